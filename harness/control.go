package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/kms"
)

// DefaultMaxControlClusters bounds how many clusters made through the
// control API may be alive at once (each HSM is a process or a container).
const DefaultMaxControlClusters = 64

// controlTarget serves the fault-control protocol (package control) over
// the harness: clusters, the fault catalogue, and holds on transient
// connection states. It implements control.Target.
type controlTarget struct {
	h *Harness

	mu       sync.Mutex
	made     map[string]bool                      // live clusters made through the API
	injected map[control.FaultRequest]faults.Heal // faults put in place through the API
}

func newControlTarget(h *Harness) *controlTarget {
	return &controlTarget{h: h, made: map[string]bool{}, injected: map[control.FaultRequest]faults.Heal{}}
}

// controlHandler returns the control API's HTTP handler.
func (h *Harness) controlHandler() (http.Handler, error) {
	return control.NewHandler(h.controlTarget, control.HandlerOptions{Token: h.controlToken})
}

// ControlToken returns the bearer token the control API requires
// (KMSHARNESS_CONTROL_TOKEN).
func (h *Harness) ControlToken() string { return h.controlToken }

// ControlClient returns a client of the harness's own control API.
func (h *Harness) ControlClient() *control.Client {
	c, err := control.NewClient(h.control, h.controlToken, nil)
	if err != nil {
		panic(fmt.Sprintf("harness: control client: %v", err)) // the harness made both
	}
	return c
}

// newControlToken returns a random bearer token.
func newControlToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (t *controlTarget) Info(context.Context) (control.Info, error) {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	return control.Info{Implementation: "kmsharness " + version,
		Features: []string{control.FeatureClusters, control.FeatureFaults, control.FeatureHolds}}, nil
}

func (t *controlTarget) NewCluster(ctx context.Context, hsms int) (control.Cluster, error) {
	t.mu.Lock()
	if limit := t.h.opts.maxControlClusters; len(t.made) >= limit {
		t.mu.Unlock()
		return control.Cluster{}, control.Errorf(control.ErrLimitExceeded,
			"%d clusters made through the control API are alive; delete some (DELETE /clusters/{id})", limit)
	}
	t.mu.Unlock()
	c, err := t.h.NewCluster(ctx, WithHSMs(hsms))
	if err != nil {
		if c != nil && c.ID != "" {
			_ = t.h.DeleteCluster(context.WithoutCancel(ctx), c.ID)
		}
		return control.Cluster{}, err
	}
	t.mu.Lock()
	t.made[c.ID] = true
	t.mu.Unlock()
	return control.Cluster{ClusterID: c.ID, TrustAnchorPEM: string(c.TrustAnchorPEM), TrustAnchorFile: c.TrustAnchorFile,
		KMSUserPassword: c.KMSUserPassword}, nil
}

func (t *controlTarget) Cluster(_ context.Context, id string) (control.ClusterInfo, error) {
	info, err := t.h.cloudHSM.Cluster(id)
	if err != nil {
		return control.ClusterInfo{}, control.Errorf(control.ErrNotFound, "no cluster %s", id)
	}
	out := control.ClusterInfo{ClusterID: id, State: info.State}
	for _, hsm := range info.HSMs {
		out.HSMs = append(out.HSMs, control.HSM{HSMID: hsm.ID, AvailabilityZone: hsm.AvailabilityZone, State: hsm.State})
	}
	return out, nil
}

func (t *controlTarget) DeleteCluster(ctx context.Context, id string) error {
	if _, err := t.h.cloudHSM.Cluster(id); err != nil {
		return control.Errorf(control.ErrNotFound, "no cluster %s", id)
	}
	// Faults in place on the cluster go with it: heal what can be healed
	// (a proxy toxic, a paused node) so that nothing outlives the cluster.
	t.mu.Lock()
	var heals []faults.Heal
	for req, heal := range t.injected {
		if req.Cluster == id && heal != nil {
			heals = append(heals, heal)
			delete(t.injected, req)
		}
	}
	t.mu.Unlock()
	for _, heal := range heals {
		_, _ = heal(ctx)
	}
	if err := t.h.DeleteCluster(ctx, id); errors.Is(err, ErrNoCluster) {
		return control.Errorf(control.ErrNotFound, "no cluster %s (deleted already)", id)
	} else if err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.made, id)
	t.mu.Unlock()
	return nil
}

func (t *controlTarget) Faults(context.Context) ([]control.Fault, error) {
	var out []control.Fault
	for _, e := range faults.Catalogue() {
		out = append(out, control.Fault{Name: e.Name, Code: e.Code, NeedsHSM: e.NeedsHSM, Description: e.Description})
	}
	return out, nil
}

// lookupFault makes the requested fault, mapping the requester's mistakes
// to their kinds: an unknown fault or a missing HSM is a bad request, an
// unknown cluster or HSM is not found.
func (t *controlTarget) lookupFault(req control.FaultRequest) (faults.Fault, error) {
	f, err := faults.Lookup(req.Name, faults.Scope{ClusterID: req.Cluster, HSMID: req.HSM})
	if err != nil {
		return nil, control.Errorf(control.ErrBadRequest, "%v", err)
	}
	if _, known := t.h.ClusterByID(req.Cluster); !known {
		return nil, control.Errorf(control.ErrNotFound, "no cluster %s in this harness", req.Cluster)
	}
	if err := f.Available(faultTarget{t.h}); err != nil {
		if kinded := withKind(err); kinded != err {
			return nil, kinded
		}
		return nil, control.Errorf(control.ErrNotFound, "%v", err)
	}
	return f, nil
}

func (t *controlTarget) InjectFault(ctx context.Context, req control.FaultRequest) error {
	f, err := t.lookupFault(req)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if _, dup := t.injected[req]; dup {
		t.mu.Unlock()
		return control.Errorf(control.ErrConflict, "fault %s is already in place there; heal it first", req.Name)
	}
	t.injected[req] = nil // reserved while it is injected
	t.mu.Unlock()
	heal, err := t.h.InjectFault(ctx, f)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		delete(t.injected, req)
		return withKind(err)
	}
	t.injected[req] = heal
	return nil
}

func (t *controlTarget) HealFault(ctx context.Context, req control.FaultRequest) (control.HealReport, error) {
	t.mu.Lock()
	heal, found := t.injected[req]
	if found && heal != nil {
		delete(t.injected, req)
	}
	t.mu.Unlock()
	if !found {
		if _, err := faults.Lookup(req.Name, faults.Scope{ClusterID: req.Cluster, HSMID: req.HSM}); errors.Is(err, faults.ErrUnknownFault) {
			return control.HealReport{}, control.Errorf(control.ErrBadRequest, "%v", err)
		}
		return control.HealReport{}, control.Errorf(control.ErrNotFound, "fault %s is not in place on %s", req.Name, req.Cluster)
	}
	if heal == nil {
		return control.HealReport{}, control.Errorf(control.ErrConflict, "fault %s is still being injected", req.Name)
	}
	report, err := heal(ctx)
	if err != nil {
		return control.HealReport{}, withKind(err)
	}
	return control.HealReport{KMSUserPassword: report.KMSUserPassword, ClusterID: report.ClusterID}, nil
}

// withKind gives the harness's errors their kind in the protocol: the
// caller's mistakes are 4xx, never a 500.
func withKind(err error) error {
	for _, k := range []struct{ err, kind error }{
		{faults.ErrUnknownFault, control.ErrBadRequest},
		{faults.ErrUnknownCluster, control.ErrNotFound},
		{faults.ErrUnknownHSM, control.ErrNotFound},
		{faults.ErrNotInjectable, control.ErrConflict},
		{kms.ErrStoreNotFound, control.ErrNotFound},
		{kms.ErrUnknownTransition, control.ErrBadRequest},
		{kms.ErrHoldExists, control.ErrConflict},
		{ErrNoCluster, control.ErrNotFound},
	} {
		if errors.Is(err, k.err) {
			return control.Errorf(k.kind, "%v", err)
		}
	}
	return err
}

func holdView(h *kms.Hold) control.Hold {
	return control.Hold{HoldID: h.ID(), Store: h.StoreID(), Transition: string(h.Transition()), Holding: h.Holding(), Ended: h.Ended()}
}

func (t *controlTarget) Hold(_ context.Context, req control.HoldRequest) (control.Hold, error) {
	h, err := t.h.KMS().HoldTransition(req.Store, kms.Transition(req.Transition))
	if err != nil {
		return control.Hold{}, withKind(err)
	}
	return holdView(h), nil
}

func (t *controlTarget) HoldState(_ context.Context, id string) (control.Hold, error) {
	h, ok := t.h.KMS().LookupHold(id)
	if !ok {
		return control.Hold{}, control.Errorf(control.ErrNotFound, "no hold %s", id)
	}
	return holdView(h), nil
}

func (t *controlTarget) Release(_ context.Context, id string) error {
	h, ok := t.h.KMS().LookupHold(id)
	if !ok {
		return control.Errorf(control.ErrNotFound, "no hold %s", id)
	}
	h.Release()
	return nil
}
