package faults

import (
	"context"
	"time"
)

// hsmFaults act on one HSM (or, for network toxics, on all when no HSM is
// named). None of them fails a connect by itself: they are for life after
// CONNECTED.
func hsmFaults() []Entry {
	return []Entry{
		{Name: "node-killed", NeedsHSM: true, Description: "the HSM's node process is killed (SIGKILL); heal restarts it from its data", Make: hsmFault(NodeKilled)},
		{Name: "node-hung", NeedsHSM: true, Description: "the HSM's node is frozen (SIGSTOP): connections stay open, nothing answers; heal resumes it", Make: hsmFault(NodeHung)},
		{Name: "node-deleted", NeedsHSM: true, Description: "the HSM is deleted from the cluster; heal adds one in the same zone", Make: hsmFault(NodeDeleted)},
		{Name: "slow-node", NeedsHSM: true, Description: "200 ms ± 50 ms of latency in front of the HSM; heal removes it", Make: hsmFault(func(c, h string) Fault { return SlowNode(c, h, 200*time.Millisecond) })},
		{Name: "network-blackhole", Description: "data to the HSM (or all HSMs of the cluster) stops flowing, connections stay open; heal removes it", Make: networkFault(Timeout{})},
		{Name: "network-reset", Description: "connections to the HSM (or all) are reset; heal removes it", Make: networkFault(ResetPeer{})},
		{Name: "network-latency", Description: "500 ms ± 100 ms of latency to the HSM (or all); heal removes it", Make: networkFault(Latency{Latency: 500 * time.Millisecond, Jitter: 100 * time.Millisecond})},
		{Name: "network-bandwidth", Description: "throughput to the HSM (or all) limited to 1 KB/s; heal removes it", Make: networkFault(Bandwidth{KBPerSecond: 1})},
	}
}

func hsmFault(mk func(clusterID, hsmID string) Fault) Maker {
	return func(scope Scope) (Fault, error) {
		if err := requireHSM(scope); err != nil {
			return nil, err
		}
		return mk(scope.ClusterID, scope.HSMID), nil
	}
}

func networkFault(toxic Toxic) Maker {
	return func(scope Scope) (Fault, error) {
		if err := requireCluster(scope); err != nil {
			return nil, err
		}
		return Network(scope.ClusterID, scope.HSMID, toxic), nil
	}
}

// NodeKilled kills the HSM's node; the heal restarts it from its data.
func NodeKilled(clusterID, hsmID string) Fault {
	return &fault{name: "node-killed", scope: Scope{ClusterID: clusterID, HSMID: hsmID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			if err := t.KillNode(scope.HSMID); err != nil {
				return nil, err
			}
			return healed(func(ctx context.Context) error { return t.RestartNode(ctx, scope.HSMID) }), nil
		}}
}

// NodeHung freezes the HSM's node; the heal resumes it.
func NodeHung(clusterID, hsmID string) Fault {
	return &fault{name: "node-hung", scope: Scope{ClusterID: clusterID, HSMID: hsmID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			if err := t.PauseNode(scope.HSMID); err != nil {
				return nil, err
			}
			return healed(func(context.Context) error { return t.ResumeNode(scope.HSMID) }), nil
		}}
}

// NodeDeleted deletes the HSM from the cluster; the heal adds a new one in
// the same zone (restored with the cluster's users and keys).
func NodeDeleted(clusterID, hsmID string) Fault {
	return &fault{name: "node-deleted", scope: Scope{ClusterID: clusterID, HSMID: hsmID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			hsms, err := t.HSMs(scope.ClusterID)
			if err != nil {
				return nil, err
			}
			zone := ""
			for _, h := range hsms {
				if h.ID == scope.HSMID {
					zone = h.AvailabilityZone
				}
			}
			if err := t.DeleteHSM(ctx, scope.ClusterID, scope.HSMID); err != nil {
				return nil, err
			}
			return healed(func(ctx context.Context) error {
				_, err := t.AddHSM(ctx, scope.ClusterID, zone)
				return err
			}), nil
		}}
}

// SlowNode adds latency (± a quarter of it) in front of the HSM.
func SlowNode(clusterID, hsmID string, latency time.Duration) Fault {
	return &fault{name: "slow-node", scope: Scope{ClusterID: clusterID, HSMID: hsmID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			return toxicOnHSMs(t, scope, Latency{Latency: latency, Jitter: latency / 4})
		}}
}

// Network puts a toxic between KMS and one HSM (hsmID) or all HSMs of the
// cluster (hsmID ""). Its name is "network-" and the toxic's kind.
func Network(clusterID, hsmID string, toxic Toxic) Fault {
	name := map[string]string{"timeout": "network-blackhole", "reset_peer": "network-reset", "latency": "network-latency", "bandwidth": "network-bandwidth"}[toxic.Type()]
	return &fault{name: name, scope: Scope{ClusterID: clusterID, HSMID: hsmID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			return toxicOnHSMs(t, scope, toxic)
		}}
}
