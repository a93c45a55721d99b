package cloudhsm

import (
	"context"
	"slices"
)

// ClusterInfo is a snapshot of a cluster for the harness, with what the
// CloudHSMv2 API shows and the addresses of its HSM nodes.
type ClusterInfo struct {
	ID                string
	State             string
	SourceBackupID    string
	SubnetMapping     map[string]string
	PreCoPassword     string
	CSRPEM            []byte
	ClusterCertPEM    []byte
	TrustAnchorPEM    []byte
	HSMs              []HSMInfo
	AvailabilityZones []string
}

// HSMInfo is a snapshot of one HSM.
type HSMInfo struct {
	ID               string
	AvailabilityZone string
	SubnetID         string
	IP               string
	State            string
	StateMessage     string
	// Address is where the node listens ("" until it started).
	Address string
}

// Cluster returns a snapshot of the cluster.
func (s *Service) Cluster(id string) (ClusterInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(id)
	if err != nil {
		return ClusterInfo{}, err
	}
	out := s.clusterOutput(c)
	info := ClusterInfo{
		ID: c.ID, State: c.State, SourceBackupID: c.SourceBackupID, SubnetMapping: c.SubnetMapping,
		PreCoPassword: out.PreCoPassword, CSRPEM: []byte(out.Certificates.ClusterCsr),
		ClusterCertPEM: c.lineage.clusterCertPEM, TrustAnchorPEM: c.lineage.trustAnchorPEM,
	}
	for az := range c.SubnetMapping {
		info.AvailabilityZones = append(info.AvailabilityZones, az)
	}
	slices.Sort(info.AvailabilityZones)
	for _, h := range c.HSMs {
		info.HSMs = append(info.HSMs, HSMInfo{ID: h.ID, AvailabilityZone: h.AZ, SubnetID: h.SubnetID, IP: h.IP,
			State: h.State, StateMessage: h.StateMessage, Address: h.address})
	}
	return info, nil
}

// Subnets lists the emulated VPC's subnets.
func (s *Service) Subnets() []SubnetInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.net.list()
}

// DefaultVPC returns the ID of the VPC the service starts with.
func (s *Service) DefaultVPC() string { return s.defaultVPC }

// AddSubnet adds a subnet in az to the VPC, with a /prefixLen address range
// (20 to 28; a /28 has 11 usable addresses).
func (s *Service) AddSubnet(vpcID, az string, prefixLen int) (SubnetInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.net.add(vpcID, az, prefixLen)
	if err != nil {
		return SubnetInfo{}, err
	}
	return sub.info(), nil
}

// RefreshActivation moves an INITIALIZED cluster to ACTIVE once its officer
// has been activated on the HSMs (the pre-crypto officer changed its
// password), as CloudHSM notices activation. It returns the cluster's state.
func (s *Service) RefreshActivation(ctx context.Context, clusterID string) (string, error) {
	s.mu.Lock()
	c, err := s.lookup(clusterID)
	state := ""
	if err == nil {
		state = c.State
	}
	s.mu.Unlock()
	if err != nil || state != ClusterInitialized {
		return state, err
	}
	c, access, err := s.activeAccess(clusterID)
	if err != nil {
		return "", err
	}
	activated, err := s.appliance.Activated(ctx, access)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if activated && c.State == ClusterInitialized {
		c.State = ClusterActive
	}
	return c.State, nil
}

// DeleteSubnet deletes a subnet of the emulated VPC, as someone deleting it
// in EC2 would; clusters that use it keep naming it.
func (s *Service) DeleteSubnet(subnetID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.net.subnets[subnetID]
	if !ok || sub.Deleted {
		return notFound("Subnet %s not found", subnetID)
	}
	sub.Deleted = true
	return nil
}

// FillSubnet takes every free address of a subnet (as other interfaces in
// the VPC would) and returns a function that frees them again.
func (s *Service) FillSubnet(subnetID string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.net.subnets[subnetID]
	if !ok {
		return nil, notFound("Subnet %s not found", subnetID)
	}
	var taken []string
	for sub.free() > 0 {
		ip, err := sub.allocate("", "filler")
		if err != nil {
			break
		}
		taken = append(taken, ip)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ip := range taken {
			sub.release(ip)
		}
	}, nil
}

// SetHSMAddress records where an HSM's node now listens (after its backend
// restarted it elsewhere).
func (s *Service) SetHSMAddress(hsmID, address string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clusters {
		if h := c.findHSM(hsmID, "", ""); h != nil {
			h.address = address
			return nil
		}
	}
	return notFound("HSM %s not found", hsmID)
}
