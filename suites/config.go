// Package suites holds kmsharness's Ginkgo conformance suites for the AWS
// KMS custom key store API, as a library. They talk to any endpoint through
// the AWS SDK for Go v2 and need nothing from the implementation beyond the
// KMS API, except clusters to connect stores to: given statically, or made on
// demand through a harness-style control API. Specs that need more than the
// target offers skip with the reason.
//
// Embed them in your own Ginkgo tree with Register(&cfg) (the config is
// read through the pointer when specs run, so it can be filled in a
// BeforeSuite), or own the run with Run(t, cfg).
package suites

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsharness/kmsharness/control"
)

// Cluster is a CloudHSM cluster a custom key store can use: ACTIVE, with
// kmsuser, and the trust anchor that initialised it.
type Cluster struct {
	ID              string
	TrustAnchorPEM  string
	KMSUserPassword string
}

// ClusterProvider makes new ready clusters. Without one, the suites ask
// Config.Control.
type ClusterProvider interface {
	NewCluster(ctx context.Context) (Cluster, error)
}

// Config says what the suites run against.
type Config struct {
	// Endpoint is the KMS endpoint URL.
	Endpoint string
	// CloudHSMEndpoint is the CloudHSMv2 endpoint URL, if the preflight is
	// to check that the given clusters exist and are ACTIVE.
	CloudHSMEndpoint string
	// Region and Credentials sign requests.
	Region      string
	Credentials aws.CredentialsProvider
	// Clusters are clusters given up front, each ACTIVE and used by no
	// store. The first holds the store that the specs needing keys share
	// (found again by later runs: its keys keep it for at least 7 days);
	// the others serve the specs' own stores, one store at a time, and go
	// back to the pool when the store is deleted. Provider, if set, makes
	// more on demand.
	Clusters []Cluster
	Provider ClusterProvider
	// StoreQuota is the target's custom key store quota (AWS: 10).
	StoreQuota int
	// ConnectTimeout bounds a connect or disconnect the specs wait for
	// (default 20 minutes, the longest AWS documents for a connect; a
	// target known to be fast, such as the harness, may set less so that
	// a store stuck in CONNECTING fails its spec sooner).
	ConnectTimeout time.Duration
	// Control is the target's fault-control API (package control): fault
	// specs need it, the specs of transient states hold them through it,
	// and without a Provider it makes clusters on demand (deleted again
	// when the run ends).
	Control *control.Client
}

// suite is one registration of the suites: the config, its clients, its
// clusters and stores.
type suite struct {
	cfg *Config

	mu      sync.Mutex
	clients [2]*kms.Client // without and with retries
	http    *http.Client   // what they and the raw calls send through
	holds   *bool          // whether the control API serves holds, once asked

	pool   pool
	shared sharedStore
}

func (c *Config) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return defaultConnectTimeout
}

func (c *Config) storeQuota() int {
	if c.StoreQuota > 0 {
		return c.StoreQuota
	}
	return 10
}
