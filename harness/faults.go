package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/internal/awsjson"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// Inject puts a fault in place and returns the function that heals it,
// for DeferCleanup:
//
//	heal, err := h.Inject(ctx, faults.UserLockedOut(clusterID))
//	DeferCleanup(heal)
//
// Use InjectFault to get what a heal reports (a new kmsuser password, a new
// cluster ID).
func (h *Harness) Inject(ctx context.Context, f faults.Fault) (heal func(context.Context) error, err error) {
	healer, err := h.InjectFault(ctx, f)
	if err != nil {
		return func(context.Context) error { return nil }, err
	}
	return func(ctx context.Context) error {
		_, err := healer(ctx)
		return err
	}, nil
}

// InjectFault puts a fault in place and returns its heal, which runs once
// (later calls report what the first did).
func (h *Harness) InjectFault(ctx context.Context, f faults.Fault) (faults.Heal, error) {
	heal, err := f.Inject(ctx, faultTarget{h})
	if err != nil {
		return nil, err
	}
	h.log.Info("fault injected", "fault", f.Name(), "cluster", f.Scope().ClusterID, "hsm", f.Scope().HSMID)
	var once sync.Once
	var report faults.Report
	var healErr error
	return func(ctx context.Context) (faults.Report, error) {
		once.Do(func() {
			report, healErr = heal(ctx)
			h.log.Info("fault healed", "fault", f.Name(), "cluster", f.Scope().ClusterID, "err", healErr)
		})
		return report, healErr
	}, nil
}

// faultTarget lets faults act on the harness's parts. It implements
// faults.Target.
type faultTarget struct{ h *Harness }

func (t faultTarget) cluster(id string) (*Cluster, error) {
	c, ok := t.h.ClusterByID(id)
	if !ok {
		return nil, fmt.Errorf("cluster %s: %w", id, faults.ErrUnknownCluster)
	}
	return c, nil
}

// mistake marks an error the control plane answers for a request it cannot
// meet in the cluster's state (an AWS client error: an HSM being deleted
// already, a subnet gone) as faults.ErrNotInjectable: the requester's
// mistake, not the harness's failure.
func mistake(err error) error {
	var api smithy.APIError
	var local *awsjson.Error
	if (errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient) || (errors.As(err, &local) && local.Status < 500) {
		return fmt.Errorf("%w: %w", faults.ErrNotInjectable, err)
	}
	return err
}

// running refuses a node fault on a node that does not run.
func (t faultTarget) running(hsmID string) error {
	if !t.h.nodes.Running(hsmID) {
		return fmt.Errorf("the node of %s is not running: %w", hsmID, faults.ErrNotInjectable)
	}
	return nil
}

func (t faultTarget) HSMs(clusterID string) ([]faults.HSM, error) {
	c, err := t.cluster(clusterID)
	if err != nil {
		return nil, err
	}
	hsms, err := c.HSMs()
	if err != nil {
		return nil, mistake(err)
	}
	out := make([]faults.HSM, 0, len(hsms))
	for _, hsm := range hsms {
		out = append(out, faults.HSM{ID: hsm.ID, AvailabilityZone: hsm.AvailabilityZone, SubnetID: hsm.SubnetID, Active: hsm.State == cloudhsm.HSMActive})
	}
	return out, nil
}

func (t faultTarget) Officer(ctx context.Context, clusterID string) (*hsmclient.Cluster, error) {
	c, err := t.cluster(clusterID)
	if err != nil {
		return nil, err
	}
	officer, err := c.Login(ctx, cloudhsm.InitialOfficer, c.OfficerPassword)
	if err != nil {
		return nil, err
	}
	if len(officer.Conns()) == 0 {
		return nil, fmt.Errorf("cluster %s has no ACTIVE HSM for its officer: %w", clusterID, faults.ErrNotInjectable)
	}
	return officer, nil
}

func (t faultTarget) Dial(ctx context.Context, clusterID, hsmID string) (*hsmclient.Conn, error) {
	c, err := t.cluster(clusterID)
	if err != nil {
		return nil, err
	}
	return c.Dial(ctx, hsmID)
}

func (t faultTarget) DeleteHSM(ctx context.Context, clusterID, hsmID string) error {
	c, err := t.cluster(clusterID)
	if err != nil {
		return err
	}
	return mistake(c.DeleteHSM(ctx, hsmID))
}

func (t faultTarget) AddHSM(ctx context.Context, clusterID, zone string) (string, error) {
	c, err := t.cluster(clusterID)
	if err != nil {
		return "", err
	}
	id, err := c.AddHSM(ctx, zone)
	return id, mistake(err)
}

func (t faultTarget) DeleteCluster(ctx context.Context, clusterID string) error {
	c, err := t.cluster(clusterID)
	if err != nil {
		return err
	}
	if _, err := t.h.cloudHSM.TakeBackup(ctx, clusterID); err != nil {
		return mistake(err)
	}
	hsms, err := c.HSMs()
	if err != nil {
		return mistake(err)
	}
	for _, hsm := range hsms {
		if err := c.DeleteHSM(ctx, hsm.ID); err != nil {
			return mistake(err)
		}
	}
	_, err = t.h.client.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(clusterID)})
	return mistake(err)
}

// RestoreCluster creates a related cluster from the latest backup of
// clusterID, in new subnets, with HSMs in two zones.
func (t faultTarget) RestoreCluster(ctx context.Context, clusterID string) (string, error) {
	return t.h.RestoreCluster(ctx, clusterID)
}

// DeleteSubnet deletes the subnet in the control plane and, on the
// container backend, removes its Docker network too.
func (t faultTarget) DeleteSubnet(subnetID string) error {
	if err := t.h.cloudHSM.DeleteSubnet(subnetID); err != nil {
		return mistake(err)
	}
	if r, ok := t.h.nodes.(interface {
		RemoveSubnet(ctx context.Context, subnetID string) error
	}); ok {
		return r.RemoveSubnet(context.Background(), subnetID)
	}
	return nil
}

func (t faultTarget) FillSubnet(subnetID string) (func(), error) {
	release, err := t.h.cloudHSM.FillSubnet(subnetID)
	return release, mistake(err)
}

func (t faultTarget) KillNode(hsmID string) error {
	if err := t.running(hsmID); err != nil {
		return err
	}
	return t.h.nodes.Kill(hsmID)
}

// RestartNode restarts the node and tells the control plane where it now
// listens (a container's published port may change).
func (t faultTarget) RestartNode(ctx context.Context, hsmID string) error {
	addr, err := t.h.nodes.Restart(ctx, hsmID)
	if err != nil {
		return err
	}
	return t.h.cloudHSM.SetHSMAddress(hsmID, addr)
}

func (t faultTarget) PauseNode(hsmID string) error {
	if err := t.running(hsmID); err != nil {
		return err
	}
	return t.h.nodes.Pause(hsmID)
}
func (t faultTarget) ResumeNode(hsmID string) error { return t.h.nodes.Resume(hsmID) }

// DisconnectNode cuts the node off its network where the backend can (a
// container leaves its Docker network); elsewhere it answers
// errors.ErrUnsupported and faults use a toxic instead.
func (t faultTarget) DisconnectNode(hsmID string) (func() error, error) {
	d, ok := t.h.nodes.(interface{ Disconnect(hsmID string) error })
	if !ok {
		return nil, errors.ErrUnsupported
	}
	if err := d.Disconnect(hsmID); err != nil {
		return nil, err
	}
	return func() error { return t.RestartNode(context.Background(), hsmID) }, nil
}

func (t faultTarget) AddToxic(hsmID string, toxic faults.Toxic) (func() error, error) {
	return t.h.proxies.addToxic(hsmID, toxic)
}

func (t faultTarget) ArmKMSFailpoint(name, clusterID string) func() {
	return t.h.KMS().ArmFailpoint(name, clusterID)
}

// RestoreCluster makes a related cluster from the latest backup of
// clusterID: same cluster certificate, users and keys, in new subnets, with
// HSMs in two zones. It is how AWS repairs a store whose cluster or subnet
// is gone (then UpdateCustomKeyStore points the store at it).
func (h *Harness) RestoreCluster(ctx context.Context, clusterID string) (string, error) {
	original, ok := h.ClusterByID(clusterID)
	if !ok {
		return "", fmt.Errorf("cluster %s: %w", clusterID, faults.ErrUnknownCluster)
	}
	backupID, ok := h.cloudHSM.LatestBackup(clusterID)
	if !ok {
		return "", fmt.Errorf("cluster %s has no backup: %w", clusterID, faults.ErrNotInjectable)
	}
	var subnets, zones []string
	seen := map[string]bool{}
	for _, s := range h.cloudHSM.Subnets() {
		if s.VPCID == h.cloudHSM.DefaultVPC() && !seen[s.AvailabilityZone] {
			seen[s.AvailabilityZone] = true
			sub, err := h.cloudHSM.AddSubnet(h.cloudHSM.DefaultVPC(), s.AvailabilityZone, 24)
			if err != nil {
				return "", err
			}
			subnets, zones = append(subnets, sub.ID), append(zones, s.AvailabilityZone)
		}
	}
	out, err := h.client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: subnets, SourceBackupId: aws.String(backupID)})
	if err != nil {
		return "", err
	}
	restored := &Cluster{ID: aws.ToString(out.Cluster.ClusterId), TrustAnchorPEM: original.TrustAnchorPEM, TrustAnchorFile: original.TrustAnchorFile,
		KMSUserPassword: original.KMSUserPassword, OfficerPassword: original.OfficerPassword, h: h}
	if _, err := restored.waitState(ctx, cloudhsm.ClusterUninitialized); err != nil {
		return "", err
	}
	for _, zone := range zones[:min(2, len(zones))] {
		if _, err := restored.AddHSM(ctx, zone); err != nil {
			return "", err
		}
	}
	if _, err := restored.waitState(ctx, cloudhsm.ClusterActive); err != nil {
		return "", err
	}
	if err := h.saveCluster(restored); err != nil {
		return "", err
	}
	if err := h.cloudHSM.Save(); err != nil {
		return "", err
	}
	h.remember(restored)
	return restored.ID, nil
}
