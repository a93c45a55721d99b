package cloudhsm

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
)

// supportedHSMTypes are the HSM types the emulator creates clusters of.
var supportedHSMTypes = []string{"hsm1.medium", "hsm2m.medium"}

type createClusterInput struct {
	HsmType               string
	SubnetIds             []string
	SourceBackupID        string `json:"SourceBackupId"`
	BackupRetentionPolicy *backupRetention
	NetworkType           string
	TagList               []tag
	Mode                  string
}

func (s *Service) createCluster(_ context.Context, in *createClusterInput) (any, error) {
	if !slices.Contains(supportedHSMTypes, in.HsmType) {
		return nil, invalidRequest("HsmType %s is not supported; use one of %s", in.HsmType, strings.Join(supportedHSMTypes, ", "))
	}
	if in.NetworkType == "" {
		in.NetworkType = "IPV4"
	}
	if in.Mode == "" {
		in.Mode = "FIPS"
	}
	if r := in.BackupRetentionPolicy; r != nil {
		if r.Type != "DAYS" {
			return nil, invalidRequest("BackupRetentionPolicy Type must be DAYS")
		}
		var days int
		if _, err := fmt.Sscan(r.Value, &days); err != nil || days < 7 || days > 379 {
			return nil, invalidRequest("BackupRetentionPolicy Value must be 7 to 379 days")
		}
	} else {
		in.BackupRetentionPolicy = &backupRetention{Type: "DAYS", Value: "90"}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	mapping := map[string]string{}
	vpc := ""
	for _, id := range in.SubnetIds {
		sub, ok := s.net.subnets[id]
		if !ok || sub.Deleted {
			return nil, invalidRequest("The subnet ID '%s' does not exist", id)
		}
		if vpc != "" && sub.VPCID != vpc {
			return nil, invalidRequest("All subnets must be in the same VPC")
		}
		vpc = sub.VPCID
		if _, dup := mapping[sub.AvailabilityZone]; dup {
			return nil, invalidRequest("Only one subnet per Availability Zone is allowed; %s has two", sub.AvailabilityZone)
		}
		mapping[sub.AvailabilityZone] = id
	}

	c := &cluster{
		ID: newID("cluster-", 11), State: ClusterCreateInProgress, HSMType: in.HsmType, Mode: in.Mode,
		NetworkType: in.NetworkType, VPCID: vpc, SecurityGroup: newHexID("sg-"), SubnetMapping: mapping,
		Created: time.Now(), Retention: in.BackupRetentionPolicy, Tags: in.TagList, PreCoPassword: newPassword(),
	}
	if in.SourceBackupID != "" {
		id := in.SourceBackupID[strings.LastIndex(in.SourceBackupID, "/")+1:]
		b, ok := s.backups[id]
		if !ok || b.State != BackupReady {
			return nil, notFound("Backup %s not found or not ready", id)
		}
		c.SourceBackupID, c.lineage, c.restoreImage = b.ID, b.lineage, b.image
		c.HSMType, c.Mode = b.HSMType, b.Mode
	} else {
		l, err := s.newLineage(c.ID)
		if err != nil {
			return nil, err
		}
		c.lineage = l
	}
	s.clusters[c.ID] = c
	s.after(s.opts.delays.CreateCluster, func() {
		if c.State == ClusterCreateInProgress {
			c.State = ClusterUninitialized
		}
	})
	return map[string]any{"Cluster": s.clusterOutput(c)}, nil
}

type describeClustersInput struct {
	Filters    map[string][]string
	NextToken  string
	MaxResults int
}

func (s *Service) describeClusters(_ context.Context, in *describeClustersInput) (any, error) {
	for name := range in.Filters {
		if name != "clusterIds" && name != "vpcIds" && name != "states" {
			return nil, invalidRequest("Unsupported filter %s; use clusterIds, vpcIds or states", name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*cluster
	for _, c := range sortedClusters(s.clusters) {
		if keep(in.Filters["clusterIds"], c.ID) && keep(in.Filters["vpcIds"], c.VPCID) && keep(in.Filters["states"], c.State) {
			matched = append(matched, c)
		}
	}
	pageItems, next, err := paginate(matched, func(c *cluster) string { return c.ID }, "clusters", in.NextToken, in.MaxResults, 25)
	if err != nil {
		return nil, err
	}
	out := make([]clusterOut, 0, len(pageItems))
	for _, c := range pageItems {
		out = append(out, s.clusterOutput(c))
	}
	resp := map[string]any{"Clusters": out}
	if next != "" {
		resp["NextToken"] = next
	}
	return resp, nil
}

// keep reports whether value passes a filter (an absent filter passes all).
func keep(filter []string, value string) bool {
	return filter == nil || slices.Contains(filter, value)
}

type initializeClusterInput struct {
	ClusterID   string `json:"ClusterId"`
	SignedCert  string
	TrustAnchor string
}

func (s *Service) initializeCluster(_ context.Context, in *initializeClusterInput) (any, error) {
	return onCluster(s, in, func(in *initializeClusterInput, c *cluster) (any, error) {
		if c.State != ClusterUninitialized || c.SourceBackupID != "" {
			return nil, invalidRequest("Cluster %s is in state %s; only an uninitialized cluster can be initialized", c.ID, c.State)
		}
		if len(c.activeHSMs()) == 0 {
			return nil, invalidRequest("Cluster %s has no active HSM yet, so it has no CSR to sign", c.ID)
		}
		anchor, err := pki.ParseCertificate([]byte(in.TrustAnchor))
		if err != nil {
			return nil, invalidRequest("TrustAnchor is not a PEM certificate: %v", err)
		}
		if err := anchor.CheckSignatureFrom(anchor); err != nil {
			return nil, invalidRequest("TrustAnchor must be a self-signed certificate: %v", err)
		}
		if anchor.Version == 3 && !anchor.BasicConstraintsValid {
			return nil, invalidRequest("TrustAnchor uses X509v3 extensions but has no Basic Constraints")
		}
		signed, err := pki.ParseCertificate([]byte(in.SignedCert))
		if err != nil {
			return nil, invalidRequest("SignedCert is not a PEM certificate: %v", err)
		}
		if err := signed.CheckSignatureFrom(anchor); err != nil {
			return nil, invalidRequest("SignedCert is not signed by the TrustAnchor: %v", err)
		}
		if !publicKeyEqual(signed, c.lineage.key.Public()) {
			return nil, invalidRequest("SignedCert does not certify the cluster's CSR (its public key differs)")
		}
		c.lineage.clusterCertPEM = []byte(strings.TrimSpace(in.SignedCert) + "\n")
		c.lineage.trustAnchorPEM = []byte(strings.TrimSpace(in.TrustAnchor) + "\n")
		c.State = ClusterInitializeInProgress
		c.StateMessage = "Cluster is initializing. State will change to INITIALIZED upon completion."
		hsms := slices.Clone(c.HSMs)
		s.async(func(ctx context.Context) {
			// Complete the running nodes' certificate chains, then settle.
			for _, h := range hsms {
				if err := s.updateChain(ctx, c, h); err != nil {
					s.log.Error("completing node certificate chain failed", "hsm", h.ID, "err", err)
				}
			}
			s.after(s.opts.delays.InitializeCluster, func() {
				if c.State == ClusterInitializeInProgress {
					c.State, c.StateMessage = ClusterInitialized, ""
				}
			})
		})
		return map[string]any{"State": c.State, "StateMessage": c.StateMessage}, nil
	})
}

func publicKeyEqual(cert *x509.Certificate, pub any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	k, ok := cert.PublicKey.(equaler)
	return ok && k.Equal(pub)
}

type deleteClusterInput struct {
	ClusterID string `json:"ClusterId"`
}

func (s *Service) deleteCluster(_ context.Context, in *deleteClusterInput) (any, error) {
	return onCluster(s, in, func(_ *deleteClusterInput, c *cluster) (any, error) {
		if c.State == ClusterDeleted || c.State == ClusterDeleteInProgress {
			return nil, invalidRequest("Cluster %s is already %s", c.ID, c.State)
		}
		if len(c.HSMs) > 0 {
			return nil, invalidRequest("Cluster %s still has %d HSM(s); delete them first", c.ID, len(c.HSMs))
		}
		c.State, c.StateMessage = ClusterDeleteInProgress, ""
		s.after(s.opts.delays.DeleteCluster, func() { c.State = ClusterDeleted })
		return map[string]any{"Cluster": s.clusterOutput(c)}, nil
	})
}
