package cloudhsm

import (
	"context"
	"slices"
	"sort"
	"time"
)

// recordBackup stores a sealed image of an HSM of c as a READY backup;
// s.mu is held.
func (s *Service) recordBackup(c *cluster, sourceHSM string, image []byte) *backup {
	b := &backup{
		ID: newID("backup-", 11), ClusterID: c.ID, State: BackupReady, Created: time.Now(),
		HSMType: c.HSMType, Mode: c.Mode, SourceHSM: sourceHSM, image: image, lineage: c.lineage,
	}
	s.backups[b.ID] = b
	return b
}

// latestBackup returns the newest READY backup taken of the cluster, or
// nil; s.mu is held.
func (s *Service) latestBackup(clusterID string) *backup {
	var latest *backup
	for _, b := range s.backups {
		if b.ClusterID == clusterID && b.State == BackupReady && (latest == nil || b.Created.After(latest.Created)) {
			latest = b
		}
	}
	return latest
}

// LatestBackup returns the ID of the newest READY backup of the cluster.
func (s *Service) LatestBackup(clusterID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.latestBackup(clusterID); b != nil {
		return b.ID, true
	}
	return "", false
}

// TakeBackup backs up an ACTIVE HSM of the cluster now and returns the
// backup's ID (CloudHSM also does this daily and whenever an HSM is added).
func (s *Service) TakeBackup(ctx context.Context, clusterID string) (string, error) {
	c, access, err := s.activeAccess(clusterID)
	if err != nil {
		return "", err
	}
	image, err := s.appliance.Backup(ctx, access)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordBackup(c, access.HSMID, image).ID, nil
}

type describeBackupsInput struct {
	Filters       map[string][]string
	NextToken     string
	MaxResults    int
	SortAscending bool
	Shared        bool
}

var backupFilters = []string{"backupIds", "sourceBackupIds", "clusterIds", "states", "neverExpires"}

func (s *Service) describeBackups(_ context.Context, in *describeBackupsInput) (any, error) {
	for name := range in.Filters {
		if !slices.Contains(backupFilters, name) {
			return nil, invalidRequest("Unsupported filter %s", name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*backup
	for _, b := range s.backups {
		if keep(in.Filters["backupIds"], b.ID) && keep(in.Filters["clusterIds"], b.ClusterID) &&
			keep(in.Filters["states"], b.State) && keep(in.Filters["neverExpires"], "false") &&
			in.Filters["sourceBackupIds"] == nil {
			matched = append(matched, b)
		}
	}
	sort.Slice(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created) == in.SortAscending
		}
		return a.ID < b.ID
	})
	pageItems, next, err := paginate(matched, func(b *backup) string { return b.ID }, "backups", in.NextToken, in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	out := make([]backupOut, 0, len(pageItems))
	for _, b := range pageItems {
		out = append(out, s.backupOutput(b))
	}
	resp := map[string]any{"Backups": out}
	if next != "" {
		resp["NextToken"] = next
	}
	return resp, nil
}
