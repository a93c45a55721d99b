package kms

import (
	"context"
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

// errAbandoned ends a connect whose store left CONNECTING (a disconnect)
// before the connect changed kmsuser's password.
var errAbandoned = errors.New("the connect was abandoned")

// startConnect runs a connect in the background; s.mu is held and the store
// has just entered CONNECTING. The connect settles the store only if it is
// still in that CONNECTING (the same epoch): a disconnect meanwhile leaves
// the connect stale.
func (s *Service) startConnect(st *keyStore) {
	old := s.sessions[st.ID]
	ctx, cancel := context.WithCancel(s.ctx)
	sess := &storeSession{cancel: cancel, done: make(chan struct{})}
	s.sessions[st.ID] = sess
	attempt, snapshot := st.epoch, *st
	s.async(func(context.Context) {
		defer close(sess.done)
		s.endPrevious(ctx, st.ID, old)
		s.holdAt(ctx, st.ID, TransitionConnect)
		hsms, err := s.connect(ctx, st, attempt, &snapshot)
		s.settleConnect(ctx, st, attempt, sess, hsms, err)
	})
}

// settleConnect records the end of a connect: CONNECTED with its HSM
// sessions, or FAILED with the code of its failure. A connect the store
// left behind changes nothing; its sessions are closed.
func (s *Service) settleConnect(ctx context.Context, st *keyStore, attempt uint64, sess *storeSession, hsms *hsmclient.Cluster, err error) {
	out, code := succeeded, ""
	var f *connectFailure
	if err != nil && !errors.As(err, &f) {
		f = &connectFailure{code: CodeInternalError, detail: err.Error()}
	}
	if f != nil {
		out, code = failed, f.code
	}
	abandoned := ctx.Err() != nil || errors.Is(err, errAbandoned)
	s.mu.Lock()
	v := stale
	if !abandoned && st.epoch == attempt && s.sessions[st.ID] == sess {
		v, _ = s.change(st, opConnectEnd, out, code)
	}
	switch {
	case v != proceed:
		s.mu.Unlock()
		s.endSessions(ctx, st.ID, hsms)
		s.log.Info("an abandoned connect ended", "store", st.ID)
		return
	case out == succeeded:
		sess.hsms = hsms
		s.log.Info("custom key store connected", "store", st.ID, "cluster", st.ClusterID, "hsms", len(hsms.Conns()))
		s.async(func(context.Context) { s.keepSessions(ctx, st.ID, hsms) })
	default:
		s.log.Warn("custom key store connection failed", "store", st.ID, "cluster", st.ClusterID, "code", f.code, "detail", f.detail)
	}
	s.mu.Unlock()
	s.step(ctx, StepConnectSettled, st.ID)
}

// startDisconnect ends the store's connection in the background — the
// connect in progress abandoned, the HSM sessions closed (which logs kmsuser
// out) — and settles it DISCONNECTED; s.mu is held and the store has just
// entered DISCONNECTING.
func (s *Service) startDisconnect(st *keyStore) {
	old := s.sessions[st.ID]
	sess := &storeSession{cancel: func() {}, done: make(chan struct{})}
	s.sessions[st.ID] = sess
	attempt := st.epoch
	s.async(func(ctx context.Context) {
		defer close(sess.done)
		s.endPrevious(ctx, st.ID, old)
		s.holdAt(ctx, st.ID, TransitionDisconnect)
		sleep(ctx, s.opts.disconnectDelay)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sessions[st.ID] == sess {
			delete(s.sessions, st.ID)
		}
		if st.epoch == attempt {
			_, _ = s.change(st, opDisconnectEnd, succeeded, "")
		}
	})
}

// dropSession ends the runtime of a deleted store in the background; s.mu
// is held.
func (s *Service) dropSession(storeID string) {
	if old, ok := s.sessions[storeID]; ok {
		delete(s.sessions, storeID)
		s.async(func(ctx context.Context) { s.endPrevious(ctx, storeID, old) })
	}
}

// endPrevious ends the runtime a store's new work replaces (nil: none): it
// abandons the work in progress, waits for it to end, and logs kmsuser out
// of the HSMs it kept. The new work goes on only then, so that no login of
// the store's earlier attempt refuses its next one.
func (s *Service) endPrevious(ctx context.Context, storeID string, old *storeSession) {
	if old == nil {
		return
	}
	old.cancel()
	<-old.done
	s.endSessions(ctx, storeID, old.hsms) // set before done was closed
}

// endSessions logs kmsuser out of every HSM of hsms (nil: none) and closes
// the connections, waiting for each HSM's answer within the HSM timeout,
// even when ctx is cancelled: after Close alone an HSM would count kmsuser
// logged in until it noticed the closed connection, which a busy HSM or a
// slow network delays, and the store's next connect would be refused
// USER_LOGGED_IN by the store's own earlier login.
func (s *Service) endSessions(ctx context.Context, storeID string, hsms *hsmclient.Cluster) {
	if hsms == nil {
		return
	}
	if err := hsms.Release(context.WithoutCancel(ctx)); err != nil {
		s.log.Warn("an HSM did not confirm kmsuser's logout; it ends the login when it notices the closed connection", "store", storeID, "err", err)
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
// condition met. snap is the store as the connect began.
func (s *Service) connect(ctx context.Context, st *keyStore, attempt uint64, snap *keyStore) (*hsmclient.Cluster, error) {
	sleep(ctx, s.opts.connectDelay)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if s.failpointArmed(FailpointConnect, snap.ClusterID) {
		return nil, fail(CodeInternalError, "failpoint %s armed", FailpointConnect)
	}
	conns, unreached, err := s.dialCluster(ctx, snap)
	if err != nil {
		return nil, err
	}
	hsms := hsmclient.NewCluster(conns...)
	hsms.AttemptTimeout = s.opts.hsmTimeout
	// Every way out but success ends the logins this attempt made or sent
	// (a login whose answer a cancellation cut short may still succeed).
	took, err := s.loginAll(ctx, conns, snap)
	if err != nil {
		s.endSessions(ctx, st.ID, hsms)
		return nil, err
	}
	s.step(ctx, StepConnectLoggedIn, st.ID)
	if len(unreached) == 0 {
		if err := s.rotate(ctx, st, attempt, conns, took); err != nil {
			s.endSessions(ctx, st.ID, hsms)
			return nil, err
		}
	} else {
		// An HSM out of reach would keep the old password, and KMS could
		// not log in there when it comes back; the next connect that
		// reaches every HSM rotates.
		s.log.Warn("kmsuser's password is not rotated: some ACTIVE HSMs are out of reach", "store", st.ID, "hsms", unreached)
	}
	return hsms, nil
}

// dialCluster checks the cluster, its subnets and its HSMs, and dials every
// ACTIVE HSM it can reach; it names those it could not.
func (s *Service) dialCluster(ctx context.Context, st *keyStore) (conns []*hsmclient.Conn, unreached []string, err error) {
	cluster, err := s.cloud.DescribeCluster(ctx, st.ClusterID)
	if errors.Is(err, ErrClusterNotFound) || (err == nil && (cluster.State == "DELETED" || cluster.State == "DELETE_IN_PROGRESS")) {
		return nil, nil, fail(CodeClusterNotFound, "cluster %s not found", st.ClusterID)
	}
	if err != nil {
		return nil, nil, fail(CodeNetworkErrors, "describe cluster: %v", err)
	}
	for _, subnetID := range cluster.SubnetMapping {
		subnet, err := s.cloud.Subnet(ctx, subnetID)
		if errors.Is(err, ErrSubnetNotFound) {
			return nil, nil, fail(CodeSubnetNotFound, "subnet %s of cluster %s not found", subnetID, cluster.ID)
		}
		if err != nil {
			return nil, nil, fail(CodeNetworkErrors, "look up subnet %s: %v", subnetID, err)
		}
		if subnet.FreeAddresses < 1 {
			return nil, nil, fail(CodeInsufficientFreeAddresses, "subnet %s has no free address for KMS's network interface", subnetID)
		}
	}
	active := cluster.activeHSMs()
	if len(active) == 0 {
		return nil, nil, fail(CodeInsufficientHSMs, "cluster %s has no ACTIVE HSM", cluster.ID)
	}
	anchors, err := hsmclient.ParseTrustAnchors([]byte(st.TrustAnchor))
	if err != nil {
		return nil, nil, fail(CodeInternalError, "trust anchor: %v", err)
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
		unreached = append(unreached, h.ID)
	}
	if len(conns) == 0 {
		return nil, nil, fail(CodeNetworkErrors, "no HSM reachable: %v", errors.Join(dialErrs...))
	}
	return conns, unreached, nil
}

// loginAll logs in as kmsuser on every HSM, exclusively, and returns the
// password each HSM took; on failure it reports the most specific one: a
// missing user, then a locked one, then one logged in elsewhere, then a
// wrong password (spec §7.3's order).
func (s *Service) loginAll(ctx context.Context, conns []*hsmclient.Conn, st *keyStore) ([]string, error) {
	failures := map[string]string{}
	took := make([]string, len(conns))
	for i, c := range conns {
		password, err := s.loginKMSUser(ctx, c, st)
		took[i] = password
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
			return nil, fail(code, "kmsuser login on %s", hsm)
		}
	}
	return took, nil
}

// loginKMSUser logs in as kmsuser on one HSM, exclusively, with the
// store's password or — if the HSM refuses it and a rotation was left
// unfinished — with the password that rotation was giving (the HSM forgets
// the failed login when the second succeeds). It returns the password that
// worked.
func (s *Service) loginKMSUser(ctx context.Context, c *hsmclient.Conn, st *keyStore) (string, error) {
	var err error
	for _, password := range []string{st.Password, st.PendingPassword} {
		if password == "" {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
		err = c.LoginExclusive(lctx, KMSUser, password)
		cancel()
		if !errors.Is(err, hsmwire.ErrAuthFailed) {
			return password, err
		}
	}
	return "", err
}

// keepSessions keeps a CONNECTED store logged in on every ACTIVE HSM of its
// cluster, as KMS does: an HSM added to the cluster, or one that came back
// after a crash or a network cut, gets a kmsuser session again (with the
// password KMS rotated to) without a reconnect. It runs until the store's
// connection ends. An HSM that refuses kmsuser's password is left alone
// for the rest of the connection: logging in there again and again would
// lock kmsuser out.
func (s *Service) keepSessions(ctx context.Context, storeID string, hsms *hsmclient.Cluster) {
	t := time.NewTicker(s.opts.sessionCheck)
	defer t.Stop()
	refused := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		st, ok := s.stores[storeID]
		if !ok || !st.usable() {
			s.mu.Unlock()
			return
		}
		snap := *st
		s.mu.Unlock()
		cluster, err := s.cloud.DescribeCluster(ctx, snap.ClusterID)
		if err != nil {
			continue
		}
		anchors, err := hsmclient.ParseTrustAnchors([]byte(snap.TrustAnchor))
		if err != nil {
			continue
		}
		for _, h := range cluster.activeHSMs() {
			if hsms.Reaches(h.ID) || refused[h.ID] {
				continue
			}
			err := s.rejoin(ctx, &snap, h.ID, anchors, hsms)
			switch {
			case errors.Is(err, hsmwire.ErrAuthFailed), errors.Is(err, hsmwire.ErrLockedOut), errors.Is(err, hsmwire.ErrUserNotFound):
				refused[h.ID] = true
				s.log.Warn("an HSM refuses kmsuser's login; no session there until the store reconnects", "store", storeID, "hsm", h.ID, "err", err)
				continue
			case err != nil:
				s.log.Debug("HSM session not re-established yet", "store", storeID, "hsm", h.ID, "err", err)
				continue
			}
			s.log.Info("HSM session re-established", "store", storeID, "hsm", h.ID)
		}
	}
}

// rejoin dials one HSM, logs in as kmsuser and adds it to the store's HSMs.
func (s *Service) rejoin(ctx context.Context, st *keyStore, hsmID string, anchors []*x509.Certificate, hsms *hsmclient.Cluster) error {
	addr, err := s.cloud.HSMAddress(ctx, st.ClusterID, hsmID)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
	defer cancel()
	c, err := hsmclient.Dial(dctx, addr, hsmID, anchors)
	if err != nil {
		return err
	}
	if _, err := s.loginKMSUser(ctx, c, st); err != nil {
		// A login cut short by the timeout may still succeed there.
		s.releaseConn(ctx, c)
		return err
	}
	if !hsms.Add(c) {
		// The connection ended meanwhile (its HSMs were released), or
		// another rejoin got there first.
		s.releaseConn(ctx, c)
	}
	return nil
}

// releaseConn logs kmsuser out of one HSM and closes the connection,
// within the HSM timeout even when ctx is cancelled (see endSessions).
func (s *Service) releaseConn(ctx context.Context, c *hsmclient.Conn) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.hsmTimeout)
	defer cancel()
	_ = c.Release(rctx)
}

// SessionHSMs returns the HSMs a store has live kmsuser sessions with
// (none unless it is CONNECTED): what a harness or a test inspects to see
// KMS's view of the cluster.
func (s *Service) SessionHSMs(storeID string) []string {
	s.mu.Lock()
	var hsms *hsmclient.Cluster
	if sess := s.sessions[storeID]; sess != nil {
		hsms = sess.hsms
	}
	s.mu.Unlock()
	if hsms == nil {
		return nil
	}
	var ids []string
	for _, c := range hsms.Conns() {
		ids = append(ids, c.HSMID())
	}
	return ids
}
