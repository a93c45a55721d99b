// Package faults is the catalogue of failures kmsharness injects: one value
// per failure, each acting on a real part (HSM users, nodes, the cluster and
// its subnets in the control plane, the network between KMS and the HSMs,
// and one failpoint inside KMS), each scoped to one cluster or HSM so that
// tests running in parallel never disturb each other, and each healable
// along the repair path AWS documents.
package faults

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// Fault is one failure, bound to its scope (a cluster, and for some an HSM).
type Fault interface {
	// Name is the fault's name in the catalogue ("user-locked-out").
	Name() string
	// Code is the ConnectionErrorCode a connect must fail with while the
	// fault is in place, or "" for faults that do not fail a connect.
	Code() string
	// Scope says what the fault acts on.
	Scope() Scope
	// Available says whether the target can inject it (nil if so).
	Available(t Target) error
	// Inject puts the fault in place and returns how to heal it.
	Inject(ctx context.Context, t Target) (Heal, error)
}

// Scope is what a fault acts on.
type Scope struct {
	ClusterID string `json:"clusterId"`
	HSMID     string `json:"hsmId,omitempty"`
}

// Heal undoes a fault along AWS's repair path and reports what changed.
type Heal func(ctx context.Context) (Report, error)

// Report is what a heal changed that the caller must pass on: a new
// kmsuser password (for UpdateCustomKeyStore) or a new, related cluster
// (for UpdateCustomKeyStore(CloudHsmClusterId)).
type Report struct {
	KMSUserPassword string `json:"kmsuserPassword,omitempty"`
	ClusterID       string `json:"clusterId,omitempty"`
}

// HSM is an HSM of a cluster as a Target shows it.
type HSM struct {
	ID               string
	AvailabilityZone string
	SubnetID         string
	Active           bool
}

// Target is what faults act on; the harness implements it.
type Target interface {
	// HSMs lists the cluster's HSMs.
	HSMs(clusterID string) ([]HSM, error)
	// Officer logs in as the cluster's crypto officer on every ACTIVE HSM.
	Officer(ctx context.Context, clusterID string) (*hsmclient.Cluster, error)
	// Dial opens an unauthenticated session to one HSM.
	Dial(ctx context.Context, clusterID, hsmID string) (*hsmclient.Conn, error)
	// DeleteHSM deletes an HSM through the control plane and waits.
	DeleteHSM(ctx context.Context, clusterID, hsmID string) error
	// AddHSM adds an HSM in a zone through the control plane and waits.
	AddHSM(ctx context.Context, clusterID, zone string) (string, error)
	// DeleteCluster backs the cluster up, deletes its HSMs, then it.
	DeleteCluster(ctx context.Context, clusterID string) error
	// RestoreCluster makes a related cluster (same certificate, users and
	// keys) from the latest backup of clusterID, with HSMs in two zones.
	RestoreCluster(ctx context.Context, clusterID string) (string, error)
	// DeleteSubnet deletes a subnet; FillSubnet takes all its addresses.
	DeleteSubnet(subnetID string) error
	FillSubnet(subnetID string) (release func(), err error)
	// Node faults on an HSM's process (or container).
	KillNode(hsmID string) error
	RestartNode(ctx context.Context, hsmID string) error
	PauseNode(hsmID string) error
	ResumeNode(hsmID string) error
	// DisconnectNode cuts the HSM off its network where the backend can
	// (errors.ErrUnsupported otherwise) and returns how to reconnect it.
	DisconnectNode(hsmID string) (reconnect func() error, err error)
	// AddToxic puts a network toxic between KMS and the HSM.
	AddToxic(hsmID string, toxic Toxic) (remove func() error, err error)
	// ArmKMSFailpoint arms a failpoint inside KMS for the cluster.
	ArmKMSFailpoint(name, clusterID string) (disarm func())
}

// Toxic is a network condition between KMS and an HSM (a toxiproxy toxic).
type Toxic interface {
	// Type is the toxiproxy type; Attributes its attributes.
	Type() string
	Attributes() map[string]int64
}

// Latency delays data by Latency ± Jitter.
type Latency struct{ Latency, Jitter time.Duration }

// Type implements Toxic.
func (Latency) Type() string { return "latency" }

// Attributes implements Toxic.
func (l Latency) Attributes() map[string]int64 {
	return map[string]int64{"latency": l.Latency.Milliseconds(), "jitter": l.Jitter.Milliseconds()}
}

// Timeout stops all data; with After > 0 the connection is closed after it
// (a black hole when 0).
type Timeout struct{ After time.Duration }

// Type implements Toxic.
func (Timeout) Type() string { return "timeout" }

// Attributes implements Toxic.
func (t Timeout) Attributes() map[string]int64 {
	return map[string]int64{"timeout": t.After.Milliseconds()}
}

// ResetPeer resets connections (TCP RST) after After.
type ResetPeer struct{ After time.Duration }

// Type implements Toxic.
func (ResetPeer) Type() string { return "reset_peer" }

// Attributes implements Toxic.
func (r ResetPeer) Attributes() map[string]int64 {
	return map[string]int64{"timeout": r.After.Milliseconds()}
}

// Bandwidth limits throughput to KBPerSecond.
type Bandwidth struct{ KBPerSecond int64 }

// Type implements Toxic.
func (Bandwidth) Type() string { return "bandwidth" }

// Attributes implements Toxic.
func (b Bandwidth) Attributes() map[string]int64 { return map[string]int64{"rate": b.KBPerSecond} }

// Maker makes a fault for a scope; the catalogue maps names to makers.
type Maker func(scope Scope) (Fault, error)

// ErrUnknownFault means no fault has the name.
var ErrUnknownFault = errors.New("unknown fault")

// Errors of a fault the requester asked for in vain — their mistake, not a
// failure of the target; a Target wraps them, and so do faults, so that a
// control API can answer a 4xx for them.
var (
	// ErrUnknownCluster means the target runs no cluster with that ID.
	ErrUnknownCluster = errors.New("no such cluster in the target")
	// ErrUnknownHSM means the cluster has no HSM with that ID.
	ErrUnknownHSM = errors.New("no such HSM in the cluster")
	// ErrNotInjectable means the fault cannot be put in place in the state
	// the cluster or the HSM is in now (no ACTIVE HSM to lock kmsuser on, a
	// node that is not running to kill or freeze, …).
	ErrNotInjectable = errors.New("the fault cannot be injected in the current state")
)

// Lookup makes the named fault for the scope.
func Lookup(name string, scope Scope) (Fault, error) {
	for _, e := range Catalogue() {
		if e.Name == name {
			return e.Make(scope)
		}
	}
	return nil, fmt.Errorf("%w %q (kmsharness fault list shows them)", ErrUnknownFault, name)
}

// Entry is one fault of the catalogue.
type Entry struct {
	Name        string `json:"name"`
	Code        string `json:"code,omitempty"`
	NeedsHSM    bool   `json:"needsHsm,omitempty"`
	Description string `json:"description"`
	Make        Maker  `json:"-"`
}

// Catalogue lists every fault, by name.
func Catalogue() []Entry {
	out := append(connectionFaults(), hsmFaults()...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func requireCluster(scope Scope) error {
	if scope.ClusterID == "" {
		return errors.New("the fault needs a cluster")
	}
	return nil
}

func requireHSM(scope Scope) error {
	if scope.ClusterID == "" || scope.HSMID == "" {
		return errors.New("the fault needs a cluster and an HSM")
	}
	return nil
}
