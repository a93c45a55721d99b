package kms

import (
	"context"
	"errors"
)

// Cloud is what KMS reaches beyond itself when it checks and connects to a
// CloudHSM cluster: the CloudHSM API, the VPC's subnets, and the network
// addresses of the HSMs' interfaces.
type Cloud interface {
	// DescribeCluster returns the cluster as the CloudHSMv2 API shows it,
	// or an error wrapping ErrClusterNotFound.
	DescribeCluster(ctx context.Context, clusterID string) (*Cluster, error)
	// Subnet returns a subnet of the cluster's VPC, or an error wrapping
	// ErrSubnetNotFound.
	Subnet(ctx context.Context, subnetID string) (Subnet, error)
	// HSMAddress returns where KMS reaches an HSM's interface (host:port).
	HSMAddress(ctx context.Context, clusterID, hsmID string) (string, error)
}

// Errors a Cloud reports.
var (
	ErrClusterNotFound = errors.New("cluster not found")
	ErrSubnetNotFound  = errors.New("subnet not found")
)

// Cluster is a CloudHSM cluster as KMS needs to see it.
type Cluster struct {
	ID                 string
	State              string
	ClusterCertificate string
	SubnetMapping      map[string]string // availability zone -> subnet ID
	HSMs               []HSM
}

// HSM is one HSM of a cluster.
type HSM struct {
	ID               string
	AvailabilityZone string
	SubnetID         string
	State            string
}

// Subnet is a subnet of the cluster's VPC.
type Subnet struct {
	ID            string
	FreeAddresses int
}

// activeHSMs returns the cluster's ACTIVE HSMs.
func (c *Cluster) activeHSMs() []HSM {
	var out []HSM
	for _, h := range c.HSMs {
		if h.State == "ACTIVE" {
			out = append(out, h)
		}
	}
	return out
}

// activeZones counts the distinct availability zones of ACTIVE HSMs.
func (c *Cluster) activeZones() int {
	zones := map[string]bool{}
	for _, h := range c.activeHSMs() {
		zones[h.AvailabilityZone] = true
	}
	return len(zones)
}
