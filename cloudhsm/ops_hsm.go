package cloudhsm

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
)

type createHSMInput struct {
	ClusterID        string `json:"ClusterId"`
	AvailabilityZone string
	IPAddress        string `json:"IpAddress"`
}

func (s *Service) createHSM(_ context.Context, in *createHSMInput) (any, error) {
	return onCluster(s, in, func(in *createHSMInput, c *cluster) (any, error) {
		switch c.State {
		case ClusterUninitialized:
			if c.SourceBackupID == "" && len(c.HSMs) > 0 {
				return nil, invalidRequest("Cluster %s must be initialized before more HSMs are added", c.ID)
			}
		case ClusterInitialized, ClusterActive, ClusterDegraded:
		default:
			return nil, invalidRequest("Cannot create an HSM in cluster %s while it is %s", c.ID, c.State)
		}
		if len(c.HSMs) >= s.opts.maxHSMs {
			return nil, invalidRequest("Cluster %s already has %d HSMs, the most allowed", c.ID, s.opts.maxHSMs)
		}
		subnetID, ok := c.SubnetMapping[in.AvailabilityZone]
		if !ok {
			return nil, invalidRequest("Cluster %s has no subnet in Availability Zone %s", c.ID, in.AvailabilityZone)
		}
		sub := s.net.subnets[subnetID]
		if sub == nil || sub.Deleted {
			return nil, invalidRequest("Subnet %s of cluster %s no longer exists", subnetID, c.ID)
		}
		h := &hsm{ID: newID("hsm-", 11), AZ: in.AvailabilityZone, SubnetID: subnetID, ENIID: newHexID("eni-"), State: HSMCreateInProgress}
		ip, err := sub.allocate(in.IPAddress, h.ID)
		if err != nil {
			return nil, invalidRequest("%v", err)
		}
		h.IP = ip
		spec, source, err := s.hsmSpec(c, h)
		if err != nil {
			sub.release(ip)
			return nil, err
		}
		c.HSMs = append(c.HSMs, h)
		s.async(func(ctx context.Context) { s.provision(ctx, c, h, spec, source) })
		return map[string]any{"Hsm": s.hsmOutput(c, h)}, nil
	})
}

// imageSource says where a new HSM gets its users and keys from: an ACTIVE
// HSM of the cluster (backed up at once, as CloudHSM does when it adds an
// HSM), a backup image, or nowhere (a new cluster's first HSM).
type imageSource struct {
	from  *hsm
	image []byte
}

// hsmSpec builds the node's start-up material; s.mu is held.
func (s *Service) hsmSpec(c *cluster, h *hsm) (HSMSpec, imageSource, error) {
	l := c.lineage
	nodeCert, err := pki.IssueNodeCertificate(l.key, l.subject, h.ID, net.ParseIP(h.IP))
	if err != nil {
		return HSMSpec{}, imageSource{}, err
	}
	h.certPEM = nodeCert.CertPEM
	spec := HSMSpec{
		ClusterID: c.ID, HSMID: h.ID, AvailabilityZone: h.AZ, SubnetID: h.SubnetID, IP: h.IP,
		ClusterSecret: l.secret, TLSKeyPEM: nodeCert.KeyPEM, TLSChainPEM: append(nodeCert.CertPEM, l.clusterCertPEM...),
		Users: []InitialUser{{Name: ApplianceUser, Role: "AU", Password: l.auPassword}},
	}
	var src imageSource
	if active := c.activeHSMs(); len(active) > 0 {
		src.from = active[0]
	} else if latest := s.latestBackup(c.ID); latest != nil {
		// A cluster that lost all its HSMs gets its latest backup back, as
		// CloudHSM restores the most recent backup onto the first new HSM.
		src.image = latest.image
	} else if c.restoreImage != nil {
		src.image = c.restoreImage
	} else if len(c.HSMs) == 0 {
		spec.Users = append(spec.Users, InitialUser{Name: InitialOfficer, Role: "PRECO", Password: c.PreCoPassword})
	}
	return spec, src, nil
}

// provision starts the node, seeds it, and settles the HSM's state.
func (s *Service) provision(ctx context.Context, c *cluster, h *hsm, spec HSMSpec, src imageSource) {
	addr, err := s.backend.StartHSM(ctx, spec)
	if err == nil {
		s.mu.Lock()
		h.address = addr
		var fromAccess HSMAccess
		if src.from != nil {
			fromAccess = s.access(c, src.from)
		}
		access := s.access(c, h)
		s.mu.Unlock()
		if src.from != nil {
			var image []byte
			if image, err = s.appliance.Backup(ctx, fromAccess); err == nil {
				s.mu.Lock()
				s.recordBackup(c, src.from.ID, image)
				s.mu.Unlock()
				err = s.appliance.Restore(ctx, access, image)
			}
		} else if src.image != nil {
			err = s.appliance.Restore(ctx, access, src.image)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.State != HSMCreateInProgress {
		return // deleted meanwhile
	}
	if err != nil {
		s.log.Error("HSM creation failed", "cluster", c.ID, "hsm", h.ID, "err", err)
		h.State, h.StateMessage = HSMDegraded, fmt.Sprintf("HSM creation failed: %v", err)
		return
	}
	h.State, h.StateMessage = HSMActive, "HSM created."
	// A cluster restored from a backup is usable as soon as it has an HSM.
	if c.State == ClusterUninitialized && c.SourceBackupID != "" {
		c.State = ClusterActive
	}
	if c.State == ClusterDegraded && len(c.activeHSMs()) > 0 {
		c.State = ClusterActive
	}
}

// updateChain gives a running node the chain with the cluster certificate.
func (s *Service) updateChain(ctx context.Context, c *cluster, h *hsm) error {
	s.mu.Lock()
	chain := append(append([]byte{}, h.certPEM...), c.lineage.clusterCertPEM...)
	s.mu.Unlock()
	return s.backend.UpdateTLS(ctx, h.ID, chain)
}

type deleteHSMInput struct {
	ClusterID string `json:"ClusterId"`
	HsmID     string `json:"HsmId"`
	EniID     string `json:"EniId"`
	EniIP     string `json:"EniIp"`
}

func (s *Service) deleteHSM(_ context.Context, in *deleteHSMInput) (any, error) {
	return onCluster(s, in, func(in *deleteHSMInput, c *cluster) (any, error) {
		if in.HsmID == "" && in.EniID == "" && in.EniIP == "" {
			return nil, invalidRequest("One of HsmId, EniId or EniIp is required")
		}
		h := c.findHSM(in.HsmID, in.EniID, in.EniIP)
		if h == nil {
			return nil, notFound("HSM not found in cluster %s", c.ID)
		}
		if h.State == HSMDeleteInProgress {
			return nil, invalidRequest("HSM %s is already being deleted", h.ID)
		}
		wasActive := h.State == HSMActive
		h.State, h.StateMessage = HSMDeleteInProgress, ""
		lastActive := wasActive && len(c.activeHSMs()) == 0
		access := s.access(c, h)
		s.async(func(ctx context.Context) {
			// CloudHSM backs up the cluster before its last HSM goes, so that
			// the cluster's users and keys survive in a backup.
			if lastActive {
				if image, err := s.appliance.Backup(ctx, access); err == nil {
					s.mu.Lock()
					s.recordBackup(c, h.ID, image)
					s.mu.Unlock()
				} else {
					s.log.Warn("backup before deleting the last HSM failed", "hsm", h.ID, "err", err)
				}
			}
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := s.backend.StopHSM(stopCtx, h.ID); err != nil {
				s.log.Error("stopping HSM failed", "hsm", h.ID, "err", err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			s.removeHSM(c, h)
		})
		return map[string]any{"HsmId": h.ID}, nil
	})
}

// removeHSM drops h from c and frees its address; s.mu is held.
func (s *Service) removeHSM(c *cluster, h *hsm) {
	for i, x := range c.HSMs {
		if x == h {
			c.HSMs = append(c.HSMs[:i], c.HSMs[i+1:]...)
			break
		}
	}
	h.State = HSMDeleted
	if sub := s.net.subnets[h.SubnetID]; sub != nil {
		sub.release(h.IP)
	}
}
