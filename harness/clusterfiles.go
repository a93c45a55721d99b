package harness

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/internal/atomicfile"
)

// Files of a cluster under <dir>/clusters/<id>/, all private (0600, in a
// 0700 directory): the trust anchor, and what faults need to act on the
// cluster as its owner — the crypto officer's password above all — so that
// a harness resumed from its data directory can fault and heal the clusters
// it made before.
const (
	clustersDir     = "clusters"
	trustAnchorFile = "customerCA.crt"
	clusterFile     = "cluster.json"
)

// clusterRecord is what cluster.json holds.
type clusterRecord struct {
	ID              string `json:"id"`
	TrustAnchorPEM  string `json:"trustAnchorPem"`
	KMSUserPassword string `json:"kmsuserPassword"`
	OfficerPassword string `json:"officerPassword"`
}

// clusterDir is the directory of a cluster's files.
func (h *Harness) clusterDir(id string) string { return filepath.Join(h.dir, clustersDir, id) }

// saveCluster writes the cluster's trust anchor and record, each atomically,
// and sets its TrustAnchorFile.
func (h *Harness) saveCluster(c *Cluster) error {
	dir := h.clusterDir(c.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	anchor := filepath.Join(dir, trustAnchorFile)
	if err := atomicfile.Write(anchor, c.TrustAnchorPEM); err != nil {
		return err
	}
	c.TrustAnchorFile = anchor
	record, err := json.Marshal(clusterRecord{ID: c.ID, TrustAnchorPEM: string(c.TrustAnchorPEM),
		KMSUserPassword: c.KMSUserPassword, OfficerPassword: c.OfficerPassword})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, clusterFile), record)
}

// loadClusters remembers the clusters an earlier harness on the same data
// directory made, those the control plane still runs, and removes what
// crashed writes left in their directories.
func (h *Harness) loadClusters() error {
	entries, err := os.ReadDir(filepath.Join(h.dir, clustersDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := h.clusterDir(e.Name())
		if n, err := atomicfile.RemoveStale(dir); err != nil || n > 0 {
			h.log.Info("removed files of interrupted writes", "dir", dir, "files", n, "err", err)
		}
		data, err := os.ReadFile(filepath.Join(dir, clusterFile))
		if errors.Is(err, os.ErrNotExist) {
			continue // a cluster whose making a crash interrupted
		}
		if err != nil {
			return err
		}
		var rec clusterRecord
		if err := json.Unmarshal(data, &rec); err != nil || rec.ID != e.Name() {
			h.log.Warn("a cluster record is damaged; faults cannot act on that cluster", "file", filepath.Join(dir, clusterFile))
			continue
		}
		info, err := h.cloudHSM.Cluster(rec.ID)
		if err != nil || info.State == cloudhsm.ClusterDeleted {
			continue
		}
		h.remember(&Cluster{ID: rec.ID, TrustAnchorPEM: []byte(rec.TrustAnchorPEM), TrustAnchorFile: filepath.Join(dir, trustAnchorFile),
			KMSUserPassword: rec.KMSUserPassword, OfficerPassword: rec.OfficerPassword, h: h})
	}
	return nil
}
