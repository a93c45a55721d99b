package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/internal/awsjson"
)

type createCustomKeyStoreInput struct {
	CustomKeyStoreName               string
	CloudHsmClusterID                string `json:"CloudHsmClusterId"`
	TrustAnchorCertificate           string
	KeyStorePassword                 string
	CustomKeyStoreType               string
	XksProxyURIEndpoint              string    `json:"XksProxyUriEndpoint"`
	XksProxyURIPath                  string    `json:"XksProxyUriPath"`
	XksProxyVpcEndpointServiceName   string    `json:"XksProxyVpcEndpointServiceName"`
	XksProxyVpcEndpointServiceOwner  string    `json:"XksProxyVpcEndpointServiceOwner"`
	XksProxyAuthenticationCredential *struct{} `json:"XksProxyAuthenticationCredential"`
	XksProxyConnectivity             string    `json:"XksProxyConnectivity"`
}

func (in createCustomKeyStoreInput) hasXks() bool {
	return in.XksProxyURIEndpoint != "" || in.XksProxyURIPath != "" || in.XksProxyVpcEndpointServiceName != "" ||
		in.XksProxyVpcEndpointServiceOwner != "" || in.XksProxyAuthenticationCredential != nil || in.XksProxyConnectivity != ""
}

func newStoreID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "cks-" + hex.EncodeToString(b)[:17]
}

// createCustomKeyStore follows the rules of spec §7.1 in order.
func (s *Service) createCustomKeyStore(ctx context.Context, in *createCustomKeyStoreInput) (any, error) {
	if in.CustomKeyStoreType == "EXTERNAL_KEY_STORE" {
		return nil, unsupported("External key stores are not supported by this emulator; use AWS_CLOUDHSM.")
	}
	if in.hasXks() {
		return nil, validation("Xks* parameters are not valid for a custom key store of type AWS_CLOUDHSM.")
	}
	var missing []string
	for name, v := range map[string]string{"CloudHsmClusterId": in.CloudHsmClusterID, "TrustAnchorCertificate": in.TrustAnchorCertificate, "KeyStorePassword": in.KeyStorePassword} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, validation("A custom key store of type AWS_CLOUDHSM requires %s.", strings.Join(sortedStrings(missing), ", "))
	}

	s.mu.Lock()
	id, err := s.sameNameStore(*in)
	s.mu.Unlock()
	if id != "" || err != nil {
		return storeIDOutput(id, err)
	}

	cluster, err := s.checkCluster(ctx, in.CloudHsmClusterID)
	if err != nil {
		return nil, err
	}
	s.step(ctx, StepCreateStoreChecked, in.CustomKeyStoreName)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another create may have won meanwhile: the same store (whose ID an
	// identical create answers too), the name, the last place of the quota.
	if id, err := s.sameNameStore(*in); id != "" || err != nil {
		return storeIDOutput(id, err)
	}
	for _, st := range s.stores {
		if st.ClusterID == cluster.ID {
			return nil, kmsError("CloudHsmClusterInUseException", "Cluster %s is already associated with custom key store %s.", cluster.ID, st.ID)
		}
	}
	if err := s.sameLineageInUse(cluster); err != nil {
		return nil, err
	}
	if cluster.State != "ACTIVE" {
		return nil, kmsError("CloudHsmClusterNotActiveException", "Cluster %s is %s, not ACTIVE.", cluster.ID, cluster.State)
	}
	if err := checkTrustAnchor(cluster, in.TrustAnchorCertificate); err != nil {
		return nil, err
	}
	if err := checkClusterConfiguration(cluster); err != nil {
		return nil, err
	}
	st := &keyStore{Seq: s.nextSeq(), ID: newStoreID(), Name: in.CustomKeyStoreName, ClusterID: cluster.ID,
		ClusterCertificate: cluster.ClusterCertificate, TrustAnchor: in.TrustAnchorCertificate, Password: in.KeyStorePassword,
		State: StateDisconnected, Created: time.Now()}
	s.stores[st.ID] = st
	s.persistStore(st)
	s.log.Info("custom key store created", "store", st.ID, "cluster", cluster.ID)
	return map[string]any{"CustomKeyStoreId": st.ID}, nil
}

// sameNameStore applies the rules of spec §7.1 that look at the other
// stores before the cluster: a store with every property of the request
// (and DISCONNECTED) is an idempotent retry, whose ID it returns; another
// store of that name, or a full quota, is an error; s.mu is held.
func (s *Service) sameNameStore(in createCustomKeyStoreInput) (string, error) {
	for _, st := range s.stores {
		if st.Name != in.CustomKeyStoreName {
			continue
		}
		if st.State == StateDisconnected && st.ClusterID == in.CloudHsmClusterID &&
			st.TrustAnchor == in.TrustAnchorCertificate && st.Password == in.KeyStorePassword {
			return st.ID, nil
		}
		return "", kmsError("CustomKeyStoreNameInUseException", "A custom key store named %s already exists.", in.CustomKeyStoreName)
	}
	if len(s.stores) >= s.opts.storeQuota {
		return "", kmsError("LimitExceededException", "This account already has %d custom key stores, the most allowed.", s.opts.storeQuota)
	}
	return "", nil
}

// storeIDOutput answers CreateCustomKeyStore with a store ID, or an error.
func storeIDOutput(id string, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"CustomKeyStoreId": id}, nil
}

// checkCluster describes the cluster, mapping "not found" to its exception.
func (s *Service) checkCluster(ctx context.Context, clusterID string) (*Cluster, error) {
	cluster, err := s.cloud.DescribeCluster(ctx, clusterID)
	if errors.Is(err, ErrClusterNotFound) || (err == nil && (cluster.State == "DELETED" || cluster.State == "DELETE_IN_PROGRESS")) {
		return nil, kmsError("CloudHsmClusterNotFoundException", "Cluster %s was not found.", clusterID)
	}
	if err != nil {
		return nil, kmsError("KMSInternalException", "KMS could not describe cluster %s.", clusterID)
	}
	return cluster, nil
}

// sameLineageInUse refuses a cluster that shares its cluster certificate
// (backup lineage) with the cluster of another store; s.mu is held.
func (s *Service) sameLineageInUse(cluster *Cluster) error {
	for _, st := range s.stores {
		if st.ClusterCertificate != "" && st.ClusterCertificate == cluster.ClusterCertificate {
			return kmsError("CloudHsmClusterInUseException", "Cluster %s shares its backup history with cluster %s of custom key store %s.", cluster.ID, st.ClusterID, st.ID)
		}
	}
	return nil
}

// checkTrustAnchor accepts the certificate that signed the cluster's
// certificate, which is what the customer's customerCA.crt is.
func checkTrustAnchor(cluster *Cluster, anchorPEM string) error {
	anchor, err := pki.ParseCertificate([]byte(anchorPEM))
	if err != nil {
		return kmsError("IncorrectTrustAnchorException", "The trust anchor certificate is not a PEM certificate.")
	}
	clusterCert, err := pki.ParseCertificate([]byte(cluster.ClusterCertificate))
	if err != nil || clusterCert.CheckSignatureFrom(anchor) != nil {
		return kmsError("IncorrectTrustAnchorException", "The trust anchor certificate is not the trust anchor of cluster %s.", cluster.ID)
	}
	return nil
}

// checkClusterConfiguration requires subnets in two zones and two ACTIVE
// HSMs in different zones (what Create, Update and CreateKey need).
func checkClusterConfiguration(cluster *Cluster) error {
	if len(cluster.SubnetMapping) < 2 {
		return kmsError("CloudHsmClusterInvalidConfigurationException", "Cluster %s must have private subnets in at least two Availability Zones.", cluster.ID)
	}
	if cluster.activeZones() < 2 {
		return kmsError("CloudHsmClusterInvalidConfigurationException", "Cluster %s must have at least two active HSMs, each in a different Availability Zone.", cluster.ID)
	}
	return nil
}

type storeIDInput struct {
	CustomKeyStoreID string `json:"CustomKeyStoreId"`
}

// onStore locks the service and runs fn with the store the input names
// (CustomKeyStoreNotFoundException if none).
func (s *Service) onStore(in *storeIDInput, fn func(st *keyStore) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.lookupStore(in.CustomKeyStoreID)
	if err != nil {
		return nil, err
	}
	return fn(st)
}

// lookupStore returns the store; s.mu is held.
func (s *Service) lookupStore(id string) (*keyStore, error) {
	st, ok := s.stores[id]
	if !ok {
		return nil, storeNotFound(id)
	}
	return st, nil
}

func (s *Service) connectCustomKeyStore(ctx context.Context, in *storeIDInput) (any, error) {
	s.mu.Lock()
	st, err := s.lookupStore(in.CustomKeyStoreID)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	v, err := s.check(st, opConnect)
	clusterID := st.ClusterID
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if v == alreadyDone {
		return struct{}{}, nil
	}

	// Fast checks: a cluster that exists but is not ACTIVE fails at once.
	if cluster, err := s.cloud.DescribeCluster(ctx, clusterID); err == nil && cluster.State != "ACTIVE" &&
		cluster.State != "DELETED" && cluster.State != "DELETE_IN_PROGRESS" {
		return nil, kmsError("CloudHsmClusterNotActiveException", "Cluster %s is %s, not ACTIVE.", cluster.ID, cluster.State)
	}
	s.step(ctx, StepConnectChecked, in.CustomKeyStoreID)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The store may have changed meanwhile: deleted, disconnected, or
	// connected by a concurrent connect (then this one has nothing to do).
	v, err = s.change(st, opConnect, succeeded, "")
	if err != nil {
		return nil, err
	}
	if v == proceed {
		s.startConnect(st)
	}
	return struct{}{}, nil
}

func (s *Service) disconnectCustomKeyStore(_ context.Context, in *storeIDInput) (any, error) {
	return s.onStore(in, func(st *keyStore) (any, error) {
		if _, err := s.change(st, opDisconnect, succeeded, ""); err != nil {
			return nil, err
		}
		s.startDisconnect(st)
		return struct{}{}, nil
	})
}

type updateCustomKeyStoreInput struct {
	CustomKeyStoreID      string `json:"CustomKeyStoreId"`
	NewCustomKeyStoreName string
	KeyStorePassword      string
	CloudHsmClusterID     string `json:"CloudHsmClusterId"`
	XksProxyURIEndpoint   string `json:"XksProxyUriEndpoint"`
	XksProxyURIPath       string `json:"XksProxyUriPath"`
	XksProxyConnectivity  string
}

// updateCustomKeyStore follows spec §7.2.
func (s *Service) updateCustomKeyStore(ctx context.Context, in *updateCustomKeyStoreInput) (any, error) {
	if in.XksProxyURIEndpoint != "" || in.XksProxyURIPath != "" || in.XksProxyConnectivity != "" {
		return nil, validation("Xks* parameters are not valid for a custom key store of type AWS_CLOUDHSM.")
	}
	op := opRename
	if in.KeyStorePassword != "" || in.CloudHsmClusterID != "" {
		op = opUpdateConnection
	}
	s.mu.Lock()
	st, err := s.lookupStore(in.CustomKeyStoreID)
	if err == nil {
		_, err = s.check(st, op)
	}
	if err == nil {
		err = s.nameInUse(st, in.NewCustomKeyStoreName)
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	currentCluster, lineage := st.ClusterID, st.ClusterCertificate
	s.mu.Unlock()

	if in.CloudHsmClusterID != "" && in.CloudHsmClusterID != currentCluster {
		cluster, err := s.checkCluster(ctx, in.CloudHsmClusterID)
		if err != nil {
			return nil, err
		}
		if cluster.ClusterCertificate == "" || cluster.ClusterCertificate != lineage {
			return nil, kmsError("CloudHsmClusterNotRelatedException", "Cluster %s does not share backup history with cluster %s.", cluster.ID, currentCluster)
		}
		if cluster.State != "ACTIVE" {
			return nil, kmsError("CloudHsmClusterNotActiveException", "Cluster %s is %s, not ACTIVE.", cluster.ID, cluster.State)
		}
		if err := checkClusterConfiguration(cluster); err != nil {
			return nil, err
		}
	}
	s.step(ctx, StepUpdateChecked, in.CustomKeyStoreID)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The store may have changed meanwhile (deleted, connected, renamed by
	// another update), and another store may have taken the name.
	if _, err := s.change(st, op, succeeded, ""); err != nil {
		return nil, err
	}
	if err := s.nameInUse(st, in.NewCustomKeyStoreName); err != nil {
		return nil, err
	}
	if in.NewCustomKeyStoreName != "" {
		st.Name = in.NewCustomKeyStoreName
	}
	if in.KeyStorePassword != "" {
		// The customer's word on kmsuser's password replaces any rotation
		// KMS left unfinished.
		st.Password, st.PendingPassword = in.KeyStorePassword, ""
	}
	if in.CloudHsmClusterID != "" {
		st.ClusterID = in.CloudHsmClusterID
	}
	s.persistStore(st)
	return struct{}{}, nil
}

// nameInUse refuses a new name another store has ("" is no new name);
// s.mu is held.
func (s *Service) nameInUse(st *keyStore, name string) error {
	if name == "" {
		return nil
	}
	for _, other := range s.stores {
		if other.ID != st.ID && other.Name == name {
			return kmsError("CustomKeyStoreNameInUseException", "A custom key store named %s already exists.", name)
		}
	}
	return nil
}

func (s *Service) deleteCustomKeyStore(_ context.Context, in *storeIDInput) (any, error) {
	return s.onStore(in, func(st *keyStore) (any, error) {
		empty := outcome(true)
		for _, k := range s.keys {
			if k.StoreID == st.ID {
				empty = false
				break
			}
		}
		if _, err := s.change(st, opDelete, empty, ""); err != nil {
			return nil, err
		}
		if !empty {
			return nil, kmsError("CustomKeyStoreHasCMKsException", "Custom key store %s still contains KMS keys.", st.ID)
		}
		s.dropSession(st.ID)
		return struct{}{}, nil
	})
}

type describeCustomKeyStoresInput struct {
	CustomKeyStoreID   string `json:"CustomKeyStoreId"`
	CustomKeyStoreName string
	Limit              int
	Marker             string
}

type customKeyStoreEntry struct {
	CustomKeyStoreID       string        `json:"CustomKeyStoreId"`
	CustomKeyStoreName     string        `json:"CustomKeyStoreName"`
	CloudHsmClusterID      string        `json:"CloudHsmClusterId,omitempty"`
	TrustAnchorCertificate string        `json:"TrustAnchorCertificate,omitempty"`
	ConnectionState        string        `json:"ConnectionState"`
	ConnectionErrorCode    string        `json:"ConnectionErrorCode,omitempty"`
	CreationDate           *awsjson.Time `json:"CreationDate,omitempty"`
	CustomKeyStoreType     string        `json:"CustomKeyStoreType"`
}

func (s *Service) describeCustomKeyStores(_ context.Context, in *describeCustomKeyStoresInput) (any, error) {
	if in.Limit == 0 {
		in.Limit = 1000
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*keyStore
	for _, st := range sortedBySeq(s.stores, func(st *keyStore) uint64 { return st.Seq }) {
		if (in.CustomKeyStoreID == "" || st.ID == in.CustomKeyStoreID) && (in.CustomKeyStoreName == "" || st.Name == in.CustomKeyStoreName) {
			matched = append(matched, st)
		}
	}
	if len(matched) == 0 && (in.CustomKeyStoreID != "" || in.CustomKeyStoreName != "") {
		name := in.CustomKeyStoreID
		if name == "" {
			name = in.CustomKeyStoreName
		}
		return nil, storeNotFound(name)
	}
	items, next, err := page(s.markers, "stores", matched, func(st *keyStore) uint64 { return st.Seq }, in.Marker, in.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]customKeyStoreEntry, 0, len(items))
	for _, st := range items {
		e := customKeyStoreEntry{CustomKeyStoreID: st.ID, CustomKeyStoreName: st.Name, CloudHsmClusterID: st.ClusterID,
			TrustAnchorCertificate: st.TrustAnchor, ConnectionState: string(st.State), CreationDate: awsjson.NewTime(st.Created),
			CustomKeyStoreType: "AWS_CLOUDHSM", ConnectionErrorCode: st.ErrorCode}
		out = append(out, e)
	}
	return listOutput("CustomKeyStores", out, next), nil
}

// listOutput builds a paginated answer: Truncated always, NextMarker only
// when there is a next page.
func listOutput(field string, items any, next string) map[string]any {
	out := map[string]any{field: items, "Truncated": next != ""}
	if next != "" {
		out["NextMarker"] = next
	}
	return out
}
