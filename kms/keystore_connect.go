package kms

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
)

// KMSUser is the crypto user KMS logs in as.
const KMSUser = "kmsuser"

// connectFailure is a connect that ended FAILED with a code.
type connectFailure struct {
	code   string
	detail string
}

func (f *connectFailure) Error() string { return f.code + ": " + f.detail }

func fail(code, format string, args ...any) error {
	return &connectFailure{code: code, detail: fmt.Sprintf(format, args...)}
}

// startConnect runs the connection in the background; s.mu is held and the
// store is CONNECTING.
func (s *Service) startConnect(st *keyStore) {
	s.replaceSession(st.ID)
	ctx, cancel := context.WithCancel(s.ctx)
	sess := &storeSession{cancel: cancel, done: make(chan struct{})}
	s.sessions[st.ID] = sess
	snapshot := *st
	s.async(func(context.Context) {
		defer close(sess.done)
		hsms, newPassword, err := s.connect(ctx, &snapshot)
		s.mu.Lock()
		defer s.mu.Unlock()
		if ctx.Err() != nil || s.sessions[st.ID] != sess || st.State != StateConnecting {
			// Disconnected (or deleted) meanwhile.
			if hsms != nil {
				hsms.Close()
			}
			return
		}
		if err != nil {
			var f *connectFailure
			if !errors.As(err, &f) {
				f = &connectFailure{code: CodeInternalError, detail: err.Error()}
			}
			st.State, st.ErrorCode = StateFailed, f.code
			s.log.Warn("custom key store connection failed", "store", st.ID, "cluster", st.ClusterID, "code", f.code, "detail", f.detail)
		} else {
			st.State, st.ErrorCode, st.Password = StateConnected, "", newPassword
			sess.hsms = hsms
			s.log.Info("custom key store connected", "store", st.ID, "cluster", st.ClusterID, "hsms", len(hsms.Conns()))
			s.async(func(context.Context) { s.keepSessions(ctx, st.ID, hsms) })
		}
		s.persistStore(st)
	})
}

// startDisconnect logs out of the cluster in the background and settles
// the store DISCONNECTED; s.mu is held and the store is DISCONNECTING.
func (s *Service) startDisconnect(st *keyStore) {
	old := s.sessions[st.ID]
	delete(s.sessions, st.ID)
	sess := &storeSession{cancel: func() {}, done: make(chan struct{})}
	s.sessions[st.ID] = sess
	s.async(func(ctx context.Context) {
		defer close(sess.done)
		if old != nil {
			old.cancel()
			<-old.done
			if old.hsms != nil {
				old.hsms.Close() // closing the sessions logs kmsuser out
			}
		}
		sleep(ctx, s.opts.disconnectDelay)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sessions[st.ID] == sess {
			delete(s.sessions, st.ID)
		}
		if st.State == StateDisconnecting {
			st.State = StateDisconnected
			s.persistStore(st)
		}
	})
}

// replaceSession ends any previous runtime of the store; s.mu is held.
func (s *Service) replaceSession(storeID string) {
	if old, ok := s.sessions[storeID]; ok {
		old.cancel()
		if old.hsms != nil {
			old.hsms.Close()
		}
		delete(s.sessions, storeID)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// connect does what KMS does to connect a store: find the cluster, check
// its subnets and HSMs, dial every ACTIVE HSM over TLS verified against the
// trust anchor, log in as kmsuser on each, and rotate kmsuser's password to
// one only KMS knows. Each failure maps to the ConnectionErrorCode of the
// condition met.
func (s *Service) connect(ctx context.Context, st *keyStore) (*hsmclient.Cluster, string, error) {
	sleep(ctx, s.opts.connectDelay)
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	if s.failpointArmed(FailpointConnect, st.ClusterID) {
		return nil, "", fail(CodeInternalError, "failpoint %s armed", FailpointConnect)
	}
	cluster, err := s.cloud.DescribeCluster(ctx, st.ClusterID)
	if errors.Is(err, ErrClusterNotFound) || (err == nil && (cluster.State == "DELETED" || cluster.State == "DELETE_IN_PROGRESS")) {
		return nil, "", fail(CodeClusterNotFound, "cluster %s not found", st.ClusterID)
	}
	if err != nil {
		return nil, "", fail(CodeNetworkErrors, "describe cluster: %v", err)
	}
	for _, subnetID := range cluster.SubnetMapping {
		subnet, err := s.cloud.Subnet(ctx, subnetID)
		if errors.Is(err, ErrSubnetNotFound) {
			return nil, "", fail(CodeSubnetNotFound, "subnet %s of cluster %s not found", subnetID, cluster.ID)
		}
		if err != nil {
			return nil, "", fail(CodeNetworkErrors, "look up subnet %s: %v", subnetID, err)
		}
		if subnet.FreeAddresses < 1 {
			return nil, "", fail(CodeInsufficientFreeAddresses, "subnet %s has no free address for KMS's network interface", subnetID)
		}
	}
	active := cluster.activeHSMs()
	if len(active) == 0 {
		return nil, "", fail(CodeInsufficientHSMs, "cluster %s has no ACTIVE HSM", cluster.ID)
	}
	anchors, err := hsmclient.ParseTrustAnchors([]byte(st.TrustAnchor))
	if err != nil {
		return nil, "", fail(CodeInternalError, "trust anchor: %v", err)
	}

	var conns []*hsmclient.Conn
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	var dialErrs []error
	for _, h := range active {
		addr, err := s.cloud.HSMAddress(ctx, cluster.ID, h.ID)
		if err == nil {
			dctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
			var c *hsmclient.Conn
			c, err = hsmclient.Dial(dctx, addr, h.ID, anchors)
			cancel()
			if err == nil {
				conns = append(conns, c)
				continue
			}
		}
		dialErrs = append(dialErrs, fmt.Errorf("%s: %w", h.ID, err))
	}
	if len(conns) == 0 {
		return nil, "", fail(CodeNetworkErrors, "no HSM reachable: %v", errors.Join(dialErrs...))
	}

	if err := s.loginAll(ctx, conns, st.Password); err != nil {
		closeAll()
		return nil, "", err
	}
	newPassword := rotatedPassword()
	for _, c := range conns {
		cctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
		err := c.ChangePassword(cctx, "", newPassword)
		cancel()
		if err != nil {
			closeAll()
			return nil, "", fail(CodeInternalError, "rotating kmsuser's password on %s: %v", c.HSMID(), err)
		}
	}
	hsms := hsmclient.NewCluster(conns...)
	hsms.AttemptTimeout = s.opts.hsmTimeout
	return hsms, newPassword, nil
}

// loginAll logs in as kmsuser on every HSM, exclusively, and reports the
// most specific failure: a missing user, then a locked one, then one logged
// in elsewhere, then a wrong password (spec §7.3's order).
func (s *Service) loginAll(ctx context.Context, conns []*hsmclient.Conn, password string) error {
	failures := map[string]string{}
	for _, c := range conns {
		lctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
		err := c.LoginExclusive(lctx, KMSUser, password)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, hsmwire.ErrUserNotFound):
			failures[CodeUserNotFound] = c.HSMID()
		case errors.Is(err, hsmwire.ErrLockedOut):
			failures[CodeUserLockedOut] = c.HSMID()
		case errors.Is(err, hsmwire.ErrUserLoggedIn):
			failures[CodeUserLoggedIn] = c.HSMID()
		case errors.Is(err, hsmwire.ErrAuthFailed):
			failures[CodeInvalidCredentials] = c.HSMID()
		case errors.Is(err, hsmclient.ErrConnClosed), errors.Is(err, context.DeadlineExceeded):
			failures[CodeNetworkErrors] = c.HSMID()
		default:
			failures[CodeInternalError] = c.HSMID()
		}
	}
	for _, code := range []string{CodeUserNotFound, CodeUserLockedOut, CodeUserLoggedIn, CodeInvalidCredentials, CodeNetworkErrors, CodeInternalError} {
		if hsm, ok := failures[code]; ok {
			return fail(code, "kmsuser login on %s", hsm)
		}
	}
	return nil
}

// rotatedPassword is a new kmsuser password: 32 alphanumeric characters,
// the longest CloudHSM allows.
func rotatedPassword() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// keepSessions keeps a CONNECTED store logged in on every ACTIVE HSM of its
// cluster, as KMS does: an HSM added to the cluster, or one that came back
// after a crash or a network cut, gets a kmsuser session again (with the
// password KMS rotated to) without a reconnect. It runs until the store's
// connection ends.
func (s *Service) keepSessions(ctx context.Context, storeID string, hsms *hsmclient.Cluster) {
	t := time.NewTicker(s.opts.sessionCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		st, ok := s.stores[storeID]
		if !ok || st.State != StateConnected {
			s.mu.Unlock()
			return
		}
		clusterID, password, trustAnchor := st.ClusterID, st.Password, st.TrustAnchor
		s.mu.Unlock()
		cluster, err := s.cloud.DescribeCluster(ctx, clusterID)
		if err != nil {
			continue
		}
		anchors, err := hsmclient.ParseTrustAnchors([]byte(trustAnchor))
		if err != nil {
			continue
		}
		for _, h := range cluster.activeHSMs() {
			if hsms.Reaches(h.ID) {
				continue
			}
			if err := s.rejoin(ctx, clusterID, h.ID, anchors, password, hsms); err != nil {
				s.log.Debug("HSM session not re-established yet", "store", storeID, "hsm", h.ID, "err", err)
				continue
			}
			s.log.Info("HSM session re-established", "store", storeID, "hsm", h.ID)
		}
	}
}

// rejoin dials one HSM, logs in as kmsuser and adds it to the store's HSMs.
func (s *Service) rejoin(ctx context.Context, clusterID, hsmID string, anchors []*x509.Certificate, password string, hsms *hsmclient.Cluster) error {
	addr, err := s.cloud.HSMAddress(ctx, clusterID, hsmID)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
	defer cancel()
	c, err := hsmclient.Dial(dctx, addr, hsmID, anchors)
	if err != nil {
		return err
	}
	if err := c.LoginExclusive(dctx, KMSUser, password); err != nil {
		_ = c.Close()
		return err
	}
	hsms.Add(c)
	return nil
}

// SessionHSMs returns the HSMs a store has live kmsuser sessions with
// (none unless it is CONNECTED): what a harness or a test inspects to see
// KMS's view of the cluster.
func (s *Service) SessionHSMs(storeID string) []string {
	s.mu.Lock()
	sess := s.sessions[storeID]
	s.mu.Unlock()
	if sess == nil || sess.hsms == nil {
		return nil
	}
	var ids []string
	for _, c := range sess.hsms.Conns() {
		ids = append(ids, c.HSMID())
	}
	return ids
}
