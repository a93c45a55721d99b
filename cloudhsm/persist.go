package cloudhsm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsharness/kmsharness/internal/atomicfile"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
)

// stateLock is the service's mutex; every Unlock marks the state possibly
// changed, and the saver writes it out if it did.
type stateLock struct {
	sync.Mutex
	touched atomic.Bool
}

// Unlock releases the lock and marks the state for the saver.
func (l *stateLock) Unlock() {
	l.touched.Store(true)
	l.Mutex.Unlock()
}

// saveInterval is how often a changed state is written to the state file.
const saveInterval = 100 * time.Millisecond

// WithStateFile keeps the control plane's state (clusters, HSMs, subnets,
// certificates and keys of the cluster lineages, backups) in path, written
// within saveInterval of every change and on Close. A service opened on an
// existing file resumes it: its HSMs are started again from their data
// (HSMBackend.ResumeHSM).
func WithStateFile(path string) Option { return func(o *options) { o.stateFile = path } }

type savedState struct {
	DefaultVPC   string                  `json:"defaultVpc"`
	AWSRoot      savedCA                 `json:"awsRoot"`
	Manufacturer savedCA                 `json:"manufacturerRoot"`
	Subnets      []savedSubnet           `json:"subnets"`
	NextBlock    int                     `json:"nextBlock"`
	Lineages     map[string]savedLineage `json:"lineages"`
	Clusters     []savedCluster          `json:"clusters"`
	Backups      []savedBackup           `json:"backups"`
}

type savedCA struct {
	CertPEM []byte `json:"certPem"`
	KeyPEM  []byte `json:"keyPem"`
}

type savedSubnet struct {
	ID      string            `json:"id"`
	VPCID   string            `json:"vpcId"`
	AZ      string            `json:"az"`
	CIDR    string            `json:"cidr"`
	Used    map[string]string `json:"used"`
	Deleted bool              `json:"deleted"`
}

type savedLineage struct {
	Secret         []byte    `json:"secret"`
	KeyPEM         []byte    `json:"keyPem"`
	Subject        pkix.Name `json:"subject"`
	AuthorityPEM   []byte    `json:"authorityPem"`
	CSRPEM         []byte    `json:"csrPem"`
	HSMCertPEM     []byte    `json:"hsmCertPem"`
	AUPassword     string    `json:"auPassword"`
	ClusterCertPEM []byte    `json:"clusterCertPem"`
	TrustAnchorPEM []byte    `json:"trustAnchorPem"`
}

type savedCluster struct {
	cluster
	LineageID    string            `json:"lineageId"`
	RestoreImage []byte            `json:"restoreImage,omitempty"`
	HSMCerts     map[string][]byte `json:"hsmCerts"`
}

type savedBackup struct {
	backup
	Image     []byte `json:"image"`
	LineageID string `json:"lineageId"`
}

func saveCA(ca *pki.CA) (savedCA, error) {
	key, err := pki.KeyPEM(ca.Key)
	return savedCA{CertPEM: ca.PEM, KeyPEM: key}, err
}

func loadCA(s savedCA) (*pki.CA, error) {
	cert, err := pki.ParseCertificate(s.CertPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseECKey(s.KeyPEM)
	if err != nil {
		return nil, err
	}
	return &pki.CA{Cert: cert, Key: key, PEM: s.CertPEM}, nil
}

func parseECKey(p []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(p)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return ec, nil
}

// snapshot encodes the state; s.mu is held.
func (s *Service) snapshot() ([]byte, error) {
	st := savedState{DefaultVPC: s.defaultVPC, NextBlock: s.net.nextBlock, Lineages: map[string]savedLineage{}}
	var err error
	if st.AWSRoot, err = saveCA(s.awsRoot); err != nil {
		return nil, err
	}
	if st.Manufacturer, err = saveCA(s.manufacturerRoot); err != nil {
		return nil, err
	}
	for _, sub := range s.net.subnets {
		used := map[string]string{}
		for a, holder := range sub.used {
			used[a.String()] = holder
		}
		st.Subnets = append(st.Subnets, savedSubnet{ID: sub.ID, VPCID: sub.VPCID, AZ: sub.AvailabilityZone, CIDR: sub.CIDR.String(), Used: used, Deleted: sub.Deleted})
	}
	ids := map[*lineage]string{}
	lineageID := func(l *lineage) (string, error) {
		if id, ok := ids[l]; ok {
			return id, nil
		}
		id := fmt.Sprintf("l%d", len(ids))
		keyPEM, err := pki.KeyPEM(l.key)
		if err != nil {
			return "", err
		}
		ids[l] = id
		st.Lineages[id] = savedLineage{Secret: l.secret, KeyPEM: keyPEM, Subject: l.subject, AuthorityPEM: l.authorityPEM, CSRPEM: l.csrPEM,
			HSMCertPEM: l.hsmCertPEM, AUPassword: l.auPassword, ClusterCertPEM: l.clusterCertPEM, TrustAnchorPEM: l.trustAnchorPEM}
		return id, nil
	}
	for _, c := range sortedClusters(s.clusters) {
		id, err := lineageID(c.lineage)
		if err != nil {
			return nil, err
		}
		sc := savedCluster{cluster: *c, LineageID: id, RestoreImage: c.restoreImage, HSMCerts: map[string][]byte{}}
		sc.HSMs = nil
		for _, h := range c.HSMs {
			hc := *h
			sc.HSMs = append(sc.HSMs, &hc)
			sc.HSMCerts[h.ID] = h.certPEM
		}
		st.Clusters = append(st.Clusters, sc)
	}
	for _, b := range s.backups {
		id, err := lineageID(b.lineage)
		if err != nil {
			return nil, err
		}
		st.Backups = append(st.Backups, savedBackup{backup: *b, Image: b.image, LineageID: id})
	}
	return json.Marshal(st)
}

// restore loads a saved state into a new service (before it serves).
func (s *Service) restore(data []byte) error {
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("control plane state is damaged: %w", err)
	}
	var err error
	if s.awsRoot, err = loadCA(st.AWSRoot); err != nil {
		return err
	}
	if s.manufacturerRoot, err = loadCA(st.Manufacturer); err != nil {
		return err
	}
	s.defaultVPC = st.DefaultVPC
	s.net = network{subnets: map[string]*Subnet{}, nextBlock: st.NextBlock}
	for _, ss := range st.Subnets {
		cidr, err := netip.ParsePrefix(ss.CIDR)
		if err != nil {
			return err
		}
		sub := &Subnet{ID: ss.ID, VPCID: ss.VPCID, AvailabilityZone: ss.AZ, CIDR: cidr, used: map[netip.Addr]string{}, Deleted: ss.Deleted}
		for a, holder := range ss.Used {
			if addr, err := netip.ParseAddr(a); err == nil {
				sub.used[addr] = holder
			}
		}
		s.net.subnets[sub.ID] = sub
	}
	lineages := map[string]*lineage{}
	for id, sl := range st.Lineages {
		key, err := parseECKey(sl.KeyPEM)
		if err != nil {
			return err
		}
		lineages[id] = &lineage{secret: sl.Secret, key: key, subject: sl.Subject, authorityPEM: sl.AuthorityPEM, csrPEM: sl.CSRPEM,
			hsmCertPEM: sl.HSMCertPEM, auPassword: sl.AUPassword, clusterCertPEM: sl.ClusterCertPEM, trustAnchorPEM: sl.TrustAnchorPEM}
	}
	s.clusters = map[string]*cluster{}
	for _, sc := range st.Clusters {
		c := sc.cluster
		c.lineage, c.restoreImage = lineages[sc.LineageID], sc.RestoreImage
		if c.lineage == nil {
			return fmt.Errorf("cluster %s names an unknown lineage", c.ID)
		}
		for _, h := range c.HSMs {
			h.certPEM = sc.HSMCerts[h.ID]
		}
		s.clusters[c.ID] = &c
	}
	s.backups = map[string]*backup{}
	for _, sb := range st.Backups {
		b := sb.backup
		b.image, b.lineage = sb.Image, lineages[sb.LineageID]
		s.backups[b.ID] = &b
	}
	return nil
}

// resumeHSMs starts the nodes of the restored HSMs again. HSMs caught in a
// transition settle: being created → DEGRADED, being deleted → gone;
// clusters caught in one finish it.
func (s *Service) resumeHSMs(ctx context.Context) {
	s.mu.Lock()
	type pending struct {
		c *cluster
		h *hsm
	}
	var resume []pending
	for _, c := range s.clusters {
		switch c.State {
		case ClusterCreateInProgress:
			c.State = ClusterUninitialized
		case ClusterInitializeInProgress:
			c.State, c.StateMessage = ClusterInitialized, ""
		case ClusterDeleteInProgress:
			c.State = ClusterDeleted
		}
		for _, h := range append([]*hsm(nil), c.HSMs...) {
			switch h.State {
			case HSMActive, HSMDegraded:
				resume = append(resume, pending{c, h})
			case HSMCreateInProgress:
				h.State, h.StateMessage = HSMDegraded, "HSM creation was interrupted by a restart"
			case HSMDeleteInProgress:
				s.removeHSM(c, h)
			}
		}
	}
	s.mu.Unlock()
	for _, p := range resume {
		addr, err := s.backend.ResumeHSM(ctx, p.h.ID)
		s.mu.Lock()
		if err != nil {
			s.log.Error("resuming an HSM failed", "hsm", p.h.ID, "err", err)
			p.h.State, p.h.StateMessage = HSMDegraded, "HSM could not be resumed: "+err.Error()
		} else {
			p.h.address = addr
		}
		s.mu.Unlock()
	}
}

// saver writes the state when it changed, until the service closes.
func (s *Service) saver(ctx context.Context) {
	t := time.NewTicker(saveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.mu.touched.Swap(false) {
				_ = s.save()
			}
		}
	}
}

// Save writes the state file now (with WithStateFile; otherwise it does
// nothing), so that every change made so far survives a crash. The service
// saves within saveInterval of each change by itself; Save is for a caller
// that is about to report a change as done.
func (s *Service) Save() error {
	if s.opts.stateFile == "" {
		return nil
	}
	return s.save()
}

// save writes the state file if the state differs from what was written.
// Saves run one at a time, each writing a snapshot no older than the last.
func (s *Service) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Mutex.Lock()
	data, err := s.snapshot()
	s.mu.Mutex.Unlock()
	if err != nil {
		s.log.Error("encoding the control plane state failed", "err", err)
		return err
	}
	if bytes.Equal(data, s.lastSaved) {
		return nil
	}
	if err := atomicfile.Write(s.opts.stateFile, data); err != nil {
		s.log.Error("saving the control plane state failed", "err", err)
		return err
	}
	s.lastSaved = data
	return nil
}
