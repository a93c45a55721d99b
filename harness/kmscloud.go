package harness

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/kms"
)

// kmsCloud is how the KMS front end sees AWS: clusters through the
// CloudHSMv2 API (the real wire protocol), subnets and HSM interface
// addresses through the emulated VPC. It implements kms.Cloud.
type kmsCloud struct {
	client  *cloudhsmv2.Client
	plane   *cloudhsm.Service
	proxies *proxies
}

func (c kmsCloud) DescribeCluster(ctx context.Context, clusterID string) (*kms.Cluster, error) {
	out, err := c.client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}})
	if err != nil {
		return nil, err
	}
	if len(out.Clusters) == 0 {
		return nil, fmt.Errorf("%s: %w", clusterID, kms.ErrClusterNotFound)
	}
	cl := out.Clusters[0]
	view := &kms.Cluster{ID: aws.ToString(cl.ClusterId), State: string(cl.State), SubnetMapping: cl.SubnetMapping}
	if cl.Certificates != nil {
		view.ClusterCertificate = aws.ToString(cl.Certificates.ClusterCertificate)
	}
	for _, h := range cl.Hsms {
		view.HSMs = append(view.HSMs, kms.HSM{ID: aws.ToString(h.HsmId), AvailabilityZone: aws.ToString(h.AvailabilityZone),
			SubnetID: aws.ToString(h.SubnetId), State: string(h.State)})
	}
	return view, nil
}

func (c kmsCloud) Subnet(_ context.Context, subnetID string) (kms.Subnet, error) {
	for _, s := range c.plane.Subnets() {
		if s.ID == subnetID && !s.Deleted {
			return kms.Subnet{ID: s.ID, FreeAddresses: s.FreeAddresses}, nil
		}
	}
	return kms.Subnet{}, fmt.Errorf("%s: %w", subnetID, kms.ErrSubnetNotFound)
}

func (c kmsCloud) HSMAddress(_ context.Context, clusterID, hsmID string) (string, error) {
	info, err := c.plane.Cluster(clusterID)
	if err != nil {
		return "", err
	}
	for _, h := range info.HSMs {
		if h.ID == hsmID && h.Address != "" {
			// KMS reaches the node through its fault proxy.
			return c.proxies.address(h.ID, h.Address)
		}
	}
	return "", errors.New("HSM " + hsmID + " has no network interface")
}
