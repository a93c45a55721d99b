package scenarios

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsharness/kmsharness/control"
)

// nemesis carries out the plan: each top-level action at its time (or when
// the one before it is done, if that is later).
func (r *run) nemesis(ctx context.Context, start time.Time) {
	p := &process{name: "nemesis", phase: phaseRun}
	for _, a := range r.plan.Actions {
		if d := time.Until(start.Add(a.At)); d > 0 {
			sleepCtx(ctx, d)
		}
		if ctx.Err() != nil {
			return
		}
		r.execute(ctx, p, a)
	}
}

// execute carries out one action within its deadline.
func (r *run) execute(ctx context.Context, p *process, a Action) {
	ctx, cancel := context.WithTimeout(ctx, a.Deadline)
	defer cancel()
	switch a.Kind {
	case actInject, actHeal:
		reqs, err := r.resolve(a)
		if err != nil {
			r.refused(p, a, err)
			return
		}
		r.each(p, len(reqs), func(sub *process, i int) {
			if a.Kind == actInject {
				r.inject(ctx, sub, reqs[i], a.Origin)
			} else {
				r.heal(ctx, sub, reqs[i], a.Origin)
			}
		})
	case actRepair:
		r.repair(ctx, p, a.Store, a.Origin)
	case actParallel:
		r.each(p, len(a.Steps), func(sub *process, i int) { r.execute(ctx, sub, a.Steps[i]) })
	case actSerial:
		for _, m := range a.Steps {
			sleepCtx(ctx, m.After)
			r.execute(ctx, p, m)
		}
	}
}

// each runs fn n times at once, each as a process of its own (or in p
// itself when n is 1).
func (r *run) each(p *process, n int, fn func(sub *process, i int)) {
	if n == 1 {
		fn(p, 0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(&process{name: fmt.Sprintf("%s/%d", p.name, i), workload: p.workload, phase: p.phase}, i)
		}()
	}
	wg.Wait()
}

func faultRequest(name, cluster, hsm string) control.FaultRequest {
	return control.FaultRequest{Name: name, Cluster: cluster, HSM: hsm}
}

// resolve turns an action's indexes into fault requests: the cluster's
// current ID, the HSM's ID, or one request per HSM of a zone.
func (r *run) resolve(a Action) ([]control.FaultRequest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.Cluster < 0 || a.Cluster >= len(r.clusters) {
		return nil, fmt.Errorf("no cluster %d", a.Cluster)
	}
	c := r.clusters[a.Cluster]
	hsm := a.HSM
	if hsm == nil && a.Zone == nil && a.HSMPick != nil && r.catalogue[a.Fault].NeedsHSM {
		hsm = a.HSMPick
	}
	switch {
	case a.Zone != nil:
		zones := c.zones()
		if *a.Zone >= len(zones) {
			return nil, fmt.Errorf("cluster %d has %d zones, not %d", a.Cluster, len(zones), *a.Zone+1)
		}
		var out []control.FaultRequest
		for _, h := range c.hsms {
			if h.AvailabilityZone == zones[*a.Zone] {
				out = append(out, faultRequest(a.Fault, c.id, h.HSMID))
			}
		}
		return out, nil
	case hsm != nil:
		if *hsm >= len(c.hsms) {
			return nil, fmt.Errorf("cluster %d has %d HSMs, not %d", a.Cluster, len(c.hsms), *hsm+1)
		}
		return []control.FaultRequest{faultRequest(a.Fault, c.id, c.hsms[*hsm].HSMID)}, nil
	}
	return []control.FaultRequest{faultRequest(a.Fault, c.id, "")}, nil
}

// refused records an action the run could not make into a request.
func (r *run) refused(p *process, a Action, err error) {
	call := callInject
	if a.Kind == actHeal {
		call = callHeal
	}
	now := r.rec.now()
	r.rec.add(Operation{Process: p.name, Phase: p.phase, Call: call, Fault: a.Fault, Step: a.Origin, Start: now, End: now, Result: resultFail,
		Error: &CallError{Type: excControlRefusedError, Message: "the run could not make the request: " + err.Error()}})
	r.event("%s: %s %s: %v", a.Origin, a.Kind, a.Fault, err)
}

// inject puts a fault in place through the control API.
func (r *run) inject(ctx context.Context, p *process, req control.FaultRequest, origin string) *Operation {
	op := r.doControl(ctx, p, Operation{Call: callInject, Fault: req.Name, Cluster: req.Cluster, HSM: req.HSM, Step: origin},
		func(ctx context.Context, _ *Operation) error { return r.target.Control.InjectFault(ctx, req) })
	if !op.failedWith(excControlRefusedError) {
		// In place, or possibly (no answer, a server error): the settle
		// phase heals it.
		r.mu.Lock()
		r.inPlace = append(r.inPlace, req)
		r.mu.Unlock()
	}
	r.event("%s: inject %s → %s", origin, r.describeFault(req), outcomeText(op))
	return op
}

// heal heals a fault through the control API and takes in what it
// reported: a new kmsuser password, a related cluster in place of the old.
func (r *run) heal(ctx context.Context, p *process, req control.FaultRequest, origin string) *Operation {
	var report control.HealReport
	op := r.doControl(ctx, p, Operation{Call: callHeal, Fault: req.Name, Cluster: req.Cluster, HSM: req.HSM, Step: origin},
		func(ctx context.Context, op *Operation) error {
			var err error
			report, err = r.target.Control.HealFault(ctx, req)
			if err == nil && (report.ClusterID != "" || report.KMSUserPassword != "") {
				op.Reported = &Reported{Cluster: report.ClusterID, PasswordChanged: report.KMSUserPassword != ""}
			}
			return err
		})
	r.event("%s: heal %s → %s", origin, r.describeFault(req), outcomeText(op))
	if op.isOK() || op.failedWith(excControlRefusedError) {
		r.mu.Lock()
		if i := slices.Index(r.inPlace, req); i >= 0 {
			r.inPlace = slices.Delete(r.inPlace, i, i+1)
		}
		r.mu.Unlock()
	}
	if op.isOK() {
		r.absorb(ctx, req.Cluster, report)
		r.mu.Lock()
		r.lastRepair = max(r.lastRepair, op.End)
		r.mu.Unlock()
	}
	return op
}

// absorb takes in what a heal of a fault on cluster reported.
func (r *run) absorb(ctx context.Context, cluster string, report control.HealReport) {
	var info control.ClusterInfo
	if report.ClusterID != "" {
		info, _ = r.target.Control.Cluster(ctx, report.ClusterID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clusters {
		if c.id != cluster {
			continue
		}
		pending := r.pending[c.index]
		if pending == nil {
			pending = &control.HealReport{}
		}
		if report.KMSUserPassword != "" {
			c.password = report.KMSUserPassword
			r.secrets.add(report.KMSUserPassword)
			pending.KMSUserPassword = report.KMSUserPassword
		}
		if report.ClusterID != "" {
			for i := range r.history.Clusters {
				if r.history.Clusters[i].ID == c.id {
					r.history.Clusters[i].ReplacedBy = report.ClusterID
				}
			}
			r.history.Clusters = append(r.history.Clusters, ClusterRecord{Index: -1, ID: report.ClusterID, Spare: c.spare, HSMs: info.HSMs})
			r.made = append(r.made, report.ClusterID)
			c.id, c.hsms = report.ClusterID, info.HSMs
			pending.ClusterID = report.ClusterID
		}
		if !c.spare && (pending.KMSUserPassword != "" || pending.ClusterID != "") {
			r.pending[c.index] = pending
		}
	}
}

// repair repairs a store along AWS's path: disconnect it, wait until it is
// DISCONNECTED, tell it what the heals reported since its last repair (a
// new kmsuser password, a related cluster), connect it and wait for the
// connect to end.
func (r *run) repair(ctx context.Context, p *process, index int, origin string) {
	st := r.stores[index]
	r.event("%s: repair store %d", origin, index)
	r.disconnectStore(ctx, p, st.id)
	r.waitState(ctx, p, nil, st.id, stateDisconnected)
	r.mu.Lock()
	pending := r.pending[index]
	delete(r.pending, index)
	r.mu.Unlock()
	if pending != nil {
		in := &kms.UpdateCustomKeyStoreInput{}
		op := Operation{Step: origin}
		if pending.KMSUserPassword != "" {
			in.KeyStorePassword = aws.String(pending.KMSUserPassword)
			op.Password = "reported"
		}
		if pending.ClusterID != "" {
			in.CloudHsmClusterId = aws.String(pending.ClusterID)
			op.NewCluster = pending.ClusterID
		}
		if up := r.updateStore(ctx, p, st.id, op, in); up.isFail() {
			r.mu.Lock()
			if r.pending[index] == nil {
				r.pending[index] = pending
			}
			r.mu.Unlock()
		}
	}
	r.connectStore(ctx, p, st.id)
	last := r.waitConnectEnd(ctx, p, st.id, 3*r.scenario.OpTimeout)
	r.mu.Lock()
	r.lastRepair = max(r.lastRepair, r.rec.now())
	r.mu.Unlock()
	r.event("%s: store %d repaired → %s", origin, index, describeState(last))
}

func describeState(o *Operation) string {
	if o == nil {
		return "no answer"
	}
	if o.ErrorCode != "" {
		return o.State + " " + o.ErrorCode
	}
	return o.State
}

// outcomeText says how a call ended, for events.
func outcomeText(op *Operation) string {
	switch op.Result {
	case resultOK:
		return "ok"
	case resultFail:
		return errorText(op)
	}
	return "no answer"
}
