package harness

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// KMSUser is the name of the crypto user KMS logs in as.
const KMSUser = "kmsuser"

// Cluster is a ready cluster: ACTIVE, initialised with a fresh customer CA,
// activated with a crypto officer, with kmsuser created on every HSM.
type Cluster struct {
	ID string
	// TrustAnchorPEM is the customer CA certificate (customerCA.crt) and
	// TrustAnchorFile the file holding it.
	TrustAnchorPEM  []byte
	TrustAnchorFile string
	// KMSUserPassword is kmsuser's password; OfficerPassword the crypto
	// officer's ("admin").
	KMSUserPassword string
	OfficerPassword string

	h *Harness
}

type clusterOptions struct {
	hsms  int
	zones []string
}

// ClusterOption configures NewCluster.
type ClusterOption func(*clusterOptions)

// WithHSMs sets how many HSMs the cluster gets (default 2), spread over the
// availability zones in turn.
func WithHSMs(n int) ClusterOption { return func(o *clusterOptions) { o.hsms = n } }

// WithZones puts the cluster in these availability zones (default: every
// zone of the default VPC). It gets a new subnet in each.
func WithZones(zones ...string) ClusterOption { return func(o *clusterOptions) { o.zones = zones } }

// pollInterval is how often the harness looks at an asynchronous state.
const pollInterval = 5 * time.Millisecond

// NewCluster creates a cluster through the CloudHSMv2 API and takes it all
// the way to ACTIVE, as a customer would: create it, add the first HSM,
// sign its CSR with a new customer CA, initialise it, activate the officer,
// create kmsuser, and add the other HSMs. The trust anchor and what faults
// need (clusterfiles.go) are written under the harness directory.
func (h *Harness) NewCluster(ctx context.Context, opts ...ClusterOption) (*Cluster, error) {
	begun := time.Now()
	o := clusterOptions{hsms: 2}
	for _, opt := range opts {
		opt(&o)
	}
	if o.hsms < 1 {
		return nil, errors.New("harness: a cluster needs at least one HSM")
	}
	// Subnets of its own in each zone of the default VPC, so that faults on
	// a cluster's subnets touch no other cluster.
	zones := o.zones
	if zones == nil {
		seen := map[string]bool{}
		for _, s := range h.cloudHSM.Subnets() {
			if s.VPCID == h.cloudHSM.DefaultVPC() && !seen[s.AvailabilityZone] {
				seen[s.AvailabilityZone] = true
				zones = append(zones, s.AvailabilityZone)
			}
		}
	}
	var subnets []string
	for _, zone := range zones {
		sub, err := h.cloudHSM.AddSubnet(h.cloudHSM.DefaultVPC(), zone, 24)
		if err != nil {
			return nil, fmt.Errorf("harness: subnet for a new cluster: %w", err)
		}
		subnets = append(subnets, sub.ID)
	}
	created, err := h.client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: subnets})
	if err != nil {
		return nil, fmt.Errorf("harness: create cluster: %w", err)
	}
	c := &Cluster{ID: aws.ToString(created.Cluster.ClusterId), h: h}
	step := c.stepLogger(begun)
	step("created")
	if err := c.build(ctx, o, step); err != nil {
		return c, fmt.Errorf("harness: cluster %s: %w", c.ID, err)
	}
	// A cluster reported ready survives a crash of the harness from now on.
	if err := h.cloudHSM.Save(); err != nil {
		return c, fmt.Errorf("harness: cluster %s: %w", c.ID, err)
	}
	h.remember(c)
	return c, nil
}

// stepLogger returns a function that logs, at debug level, each step of
// making the cluster with the time since the previous one and since begun:
// where a cluster's making spends its time.
func (c *Cluster) stepLogger(begun time.Time) func(step string) {
	last := begun
	return func(step string) {
		now := time.Now()
		c.h.log.Debug("cluster step", "cluster", c.ID, "step", step, "took", now.Sub(last), "since", now.Sub(begun))
		last = now
	}
}

func (c *Cluster) build(ctx context.Context, o clusterOptions, step func(string)) error {
	h := c.h
	if _, err := c.waitState(ctx, cloudhsm.ClusterUninitialized); err != nil {
		return err
	}
	step("uninitialized")
	info, err := h.cloudHSM.Cluster(c.ID)
	if err != nil {
		return err
	}
	zones := info.AvailabilityZones
	first, err := c.AddHSM(ctx, zones[0])
	if err != nil {
		return err
	}
	step("first HSM active")
	desc, err := c.describe(ctx)
	if err != nil {
		return err
	}
	ca, err := pki.NewSelfSignedCA("kmsharness customer CA " + c.ID)
	if err != nil {
		return err
	}
	signed, err := ca.SignCSR([]byte(aws.ToString(desc.Certificates.ClusterCsr)))
	if err != nil {
		return err
	}
	if _, err := h.client.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{
		ClusterId: aws.String(c.ID), SignedCert: aws.String(string(signed)), TrustAnchor: aws.String(string(ca.PEM)),
	}); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	step("initialize requested")
	c.TrustAnchorPEM = ca.PEM
	if _, err := c.waitState(ctx, cloudhsm.ClusterInitialized); err != nil {
		return err
	}
	step("initialized")
	if err := c.activate(ctx, first, aws.ToString(desc.PreCoPassword)); err != nil {
		return err
	}
	step("active")
	// From here on faults act on the cluster as its officer; a harness
	// resumed on the same data directory finds what they need.
	if err := h.saveCluster(c); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, o.hsms)
	for i := 1; i < o.hsms; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.AddHSM(ctx, zones[i%len(zones)])
		}()
	}
	wg.Wait()
	step("other HSMs active")
	return errors.Join(errs...)
}

// activate turns the pre-crypto officer into the officer and creates
// kmsuser, then lets the control plane notice the activation.
func (c *Cluster) activate(ctx context.Context, first string, preCoPassword string) error {
	c.OfficerPassword, c.KMSUserPassword = randomPassword(), randomPassword()
	conn, err := c.Dial(ctx, first)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Login(ctx, cloudhsm.InitialOfficer, preCoPassword); err != nil {
		return fmt.Errorf("pre-crypto officer login: %w", err)
	}
	if err := conn.ChangePassword(ctx, "", c.OfficerPassword); err != nil {
		return fmt.Errorf("activate officer: %w", err)
	}
	if err := conn.CreateUser(ctx, KMSUser, "CU", c.KMSUserPassword); err != nil {
		return fmt.Errorf("create kmsuser: %w", err)
	}
	return poll(ctx, func() (bool, error) {
		state, err := c.h.cloudHSM.RefreshActivation(ctx, c.ID)
		return state == cloudhsm.ClusterActive, err
	})
}

// AddHSM creates an HSM in the zone through the CloudHSMv2 API and waits
// until it is ACTIVE (holding the cluster's users and keys).
func (c *Cluster) AddHSM(ctx context.Context, zone string) (string, error) {
	out, err := c.h.client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(c.ID), AvailabilityZone: aws.String(zone)})
	if err != nil {
		return "", fmt.Errorf("create HSM in %s: %w", zone, err)
	}
	id := aws.ToString(out.Hsm.HsmId)
	err = poll(ctx, func() (bool, error) {
		hsm, err := c.HSM(id)
		if err != nil {
			return false, err
		}
		switch hsm.State {
		case cloudhsm.HSMActive:
			return true, nil
		case cloudhsm.HSMDegraded:
			return false, fmt.Errorf("HSM %s failed: %s", id, hsm.StateMessage)
		}
		return false, nil
	})
	return id, err
}

// DeleteHSM deletes an HSM through the CloudHSMv2 API and waits until it is
// gone.
func (c *Cluster) DeleteHSM(ctx context.Context, hsmID string) error {
	if _, err := c.h.client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID), HsmId: aws.String(hsmID)}); err != nil {
		return err
	}
	err := poll(ctx, func() (bool, error) {
		_, err := c.HSM(hsmID)
		return errors.Is(err, errNoHSM), nil
	})
	if err == nil {
		c.h.proxies.remove(hsmID)
	}
	return err
}

var errNoHSM = errors.New("no such HSM in the cluster")

// HSM returns the control plane's view of one HSM of the cluster.
func (c *Cluster) HSM(hsmID string) (cloudhsm.HSMInfo, error) {
	info, err := c.h.cloudHSM.Cluster(c.ID)
	if err != nil {
		return cloudhsm.HSMInfo{}, err
	}
	for _, hsm := range info.HSMs {
		if hsm.ID == hsmID {
			return hsm, nil
		}
	}
	return cloudhsm.HSMInfo{}, fmt.Errorf("%s: %w", hsmID, errNoHSM)
}

// HSMs returns the control plane's view of the cluster's HSMs.
func (c *Cluster) HSMs() ([]cloudhsm.HSMInfo, error) {
	info, err := c.h.cloudHSM.Cluster(c.ID)
	return info.HSMs, err
}

// Dial connects to one HSM of the cluster, verifying it against the trust
// anchor.
func (c *Cluster) Dial(ctx context.Context, hsmID string) (*hsmclient.Conn, error) {
	hsm, err := c.HSM(hsmID)
	if err != nil {
		return nil, err
	}
	if c.TrustAnchorPEM == nil {
		return nil, fmt.Errorf("cluster %s is not initialised: no trust anchor yet", c.ID)
	}
	anchors, err := hsmclient.ParseTrustAnchors(c.TrustAnchorPEM)
	if err != nil {
		return nil, err
	}
	return hsmclient.Dial(ctx, hsm.Address, hsm.ID, anchors)
}

// Login connects to every ACTIVE HSM and logs in as user on each, returning
// them as a hsmclient.Cluster (close it when done).
func (c *Cluster) Login(ctx context.Context, user, password string) (*hsmclient.Cluster, error) {
	hsms, err := c.HSMs()
	if err != nil {
		return nil, err
	}
	var conns []*hsmclient.Conn
	for _, hsm := range hsms {
		if hsm.State != cloudhsm.HSMActive {
			continue
		}
		conn, err := c.Dial(ctx, hsm.ID)
		if err == nil {
			err = conn.Login(ctx, user, password)
		}
		if err != nil {
			for _, open := range conns {
				_ = open.Close()
			}
			if conn != nil {
				_ = conn.Close()
			}
			return nil, fmt.Errorf("log in to %s: %w", hsm.ID, err)
		}
		conns = append(conns, conn)
	}
	return hsmclient.NewCluster(conns...), nil
}

func (c *Cluster) describe(ctx context.Context) (*types.Cluster, error) {
	out, err := c.h.client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {c.ID}}})
	if err != nil {
		return nil, err
	}
	if len(out.Clusters) != 1 {
		return nil, fmt.Errorf("cluster %s not found", c.ID)
	}
	return &out.Clusters[0], nil
}

func (c *Cluster) waitState(ctx context.Context, state string) (*types.Cluster, error) {
	var last *types.Cluster
	err := poll(ctx, func() (bool, error) {
		d, err := c.describe(ctx)
		last = d
		return err == nil && string(d.State) == state, err
	})
	return last, err
}

// poll calls done every pollInterval until it reports true, fails, or ctx ends.
func poll(ctx context.Context, done func() (bool, error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// randomPassword returns a 24-character alphanumeric password (CloudHSM
// and KMS accept 7 to 32).
func randomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
