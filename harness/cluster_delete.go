package harness

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/kmsharness/kmsharness/cloudhsm"
)

// ErrNoCluster means the control plane has no such cluster (or it is
// deleted already).
var ErrNoCluster = errors.New("no such cluster")

// DeleteCluster deletes a cluster as a customer would through the
// CloudHSMv2 API — its HSMs first (their nodes stop), then the cluster —
// and frees what the harness kept for it: its subnets and its files. A
// store still using the cluster sees it gone, as in AWS.
func (h *Harness) DeleteCluster(ctx context.Context, id string) error {
	info, err := h.cloudHSM.Cluster(id)
	if err != nil || info.State == cloudhsm.ClusterDeleted || info.State == cloudhsm.ClusterDeleteInProgress {
		h.forget(id)
		return fmt.Errorf("harness: cluster %s: %w", id, ErrNoCluster)
	}
	c := &Cluster{ID: id, h: h}
	for _, hsm := range info.HSMs {
		if err := c.DeleteHSM(ctx, hsm.ID); err != nil {
			return fmt.Errorf("harness: delete HSM %s of %s: %w", hsm.ID, id, err)
		}
	}
	if _, err := h.client.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(id)}); err != nil {
		return fmt.Errorf("harness: delete cluster %s: %w", id, err)
	}
	for _, subnetID := range info.SubnetMapping {
		if err := (faultTarget{h}).DeleteSubnet(subnetID); err != nil {
			h.log.Debug("subnet of a deleted cluster", "subnet", subnetID, "err", err)
		}
	}
	h.forget(id)
	return os.RemoveAll(h.clusterDir(id))
}

// forget drops a cluster from the ready clusters the harness knows.
func (h *Harness) forget(id string) {
	h.clustersMu.Lock()
	defer h.clustersMu.Unlock()
	delete(h.clusters, id)
}
