package node

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
)

// maxInFlightPerConn bounds how many requests of one connection run at once.
const maxInFlightPerConn = 128

// Limits bound what one client can hold of a node's server: a connection
// that does not finish its TLS handshake, that never logs in and sends
// nothing, that trickles a frame or that does not read its answers is
// closed, and only so many connections are served at once (more wait to be
// accepted until one closes). A logged-in session may stay idle as long as
// its client wants, as on CloudHSM, where KMS keeps its kmsuser sessions
// open while a store is CONNECTED; TCP keep-alives find dead peers.
type Limits struct {
	// HandshakeTimeout bounds the TLS handshake.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection with no logged-in user that sends no
	// frame for this long.
	IdleTimeout time.Duration
	// FrameTimeout bounds reading one frame once its first byte arrived.
	FrameTimeout time.Duration
	// WriteTimeout bounds writing one answer.
	WriteTimeout time.Duration
	// MaxConnections caps the connections served at once.
	MaxConnections int
}

// DefaultLimits are the limits of a node unless Config.Limits sets them.
var DefaultLimits = Limits{
	HandshakeTimeout: 10 * time.Second,
	IdleTimeout:      time.Minute,
	FrameTimeout:     30 * time.Second,
	WriteTimeout:     30 * time.Second,
	MaxConnections:   1024,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.HandshakeTimeout > 0 {
		d.HandshakeTimeout = l.HandshakeTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.FrameTimeout > 0 {
		d.FrameTimeout = l.FrameTimeout
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.MaxConnections > 0 {
		d.MaxConnections = l.MaxConnections
	}
	return d
}

// serverState tracks listeners and connections so Close can end them.
type serverState struct {
	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup

	certMu  sync.Mutex
	cert    *tls.Certificate
	certPEM []byte // the chain file the certificate was loaded from
}

// Listen opens a TLS listener on addr ("127.0.0.1:0" picks a free port)
// presenting the node's certificate chain from its data directory, and
// accepting at most Limits.MaxConnections connections at once.
func (n *Node) Listen(addr string) (net.Listener, error) {
	if _, err := n.certificate(nil); err != nil {
		return nil, err
	}
	cfg := &tls.Config{GetCertificate: n.certificate, MinVersion: tls.VersionTLS12, DynamicRecordSizingDisabled: true}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: listen on %s: %w", addr, err)
	}
	return tls.NewListener(netutil.LimitListener(l, n.cfg.Limits.withDefaults().MaxConnections), cfg), nil
}

// certificate loads the TLS key pair, again whenever the chain file's
// content changes (compared byte for byte: a file rewritten within the
// file system's timestamp granularity keeps its modification time).
// Handshakes are rare, so reading a small file for each is cheap.
func (n *Node) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := &n.server
	certPath := filepath.Join(n.cfg.DataDir, nodefiles.TLSCertFile)
	chain, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("node: TLS certificate: %w", err)
	}
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if s.cert != nil && bytes.Equal(chain, s.certPEM) {
		return s.cert, nil
	}
	key, err := os.ReadFile(filepath.Join(n.cfg.DataDir, nodefiles.TLSKeyFile))
	if err != nil {
		return nil, fmt.Errorf("node: TLS key: %w", err)
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("node: TLS key pair: %w", err)
	}
	s.cert, s.certPEM = &pair, chain
	return s.cert, nil
}

// Serve accepts connections on l until the node is closed.
func (n *Node) Serve(l net.Listener) error {
	s := &n.server
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return net.ErrClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if !n.track(c) {
			_ = c.Close()
			return nil
		}
		go n.serveConn(c)
	}
}

func (n *Node) track(c net.Conn) bool {
	s := &n.server
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (n *Node) untrack(c net.Conn) {
	s := &n.server
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// stopServing closes listeners and connections and waits for their
// handlers to finish.
func (n *Node) stopServing() {
	s := &n.server
	s.mu.Lock()
	s.closed = true
	for _, l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveConn runs one connection: one HSM session. Requests that change or
// read the session's login run in arrival order on the reading goroutine;
// cryptographic requests run concurrently, as the user the session had when
// they arrived. Each handler writes its own response (see FrameWriter).
func (n *Node) serveConn(c net.Conn) {
	defer n.untrack(c)
	sess := &session{}
	defer n.endSession(sess)
	defer func() { _ = c.Close() }()
	limits := n.cfg.Limits.withDefaults()
	if tc, ok := c.(*tls.Conn); ok {
		_ = c.SetDeadline(time.Now().Add(limits.HandshakeTimeout))
		if err := tc.Handshake(); err != nil {
			return
		}
		_ = c.SetDeadline(time.Time{})
	}

	fw := hsmwire.NewFrameWriter(c)
	respond := func(resp *hsmwire.Response) {
		_ = c.SetWriteDeadline(time.Now().Add(limits.WriteTimeout))
		if err := fw.WriteEncoded(func(buf []byte) []byte { return hsmwire.AppendResponse(buf, resp) }); err != nil {
			_ = c.Close()
		}
	}

	var inflight sync.WaitGroup
	sem := make(chan struct{}, maxInFlightPerConn)
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		body, err := readFrame(c, br, sess, limits)
		if err != nil {
			break
		}
		req, err := hsmwire.DecodeRequest(body)
		if err != nil {
			respond(&hsmwire.Response{ID: req.ID, Status: hsmwire.StatusBadRequest, Message: err.Error()})
			continue
		}
		caller := sess.current()
		// A request that must run in order, or a short one with nothing
		// else waiting on the connection, runs here: handing it to a new
		// goroutine would only add a wake-up to its latency.
		if !runsConcurrently(req.Op) || (isShort(req.Op) && br.Buffered() == 0 && len(sem) == 0) {
			respond(n.handle(sess, caller, req))
			continue
		}
		sem <- struct{}{}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			respond(n.handle(sess, caller, req))
			<-sem
		}()
	}
	inflight.Wait()
}

// isShort says which operations take a bounded, small amount of work
// (cryptography on at most 16 KB, random bytes), never a disk write.
func isShort(op hsmwire.Op) bool {
	switch op {
	case hsmwire.OpEncrypt, hsmwire.OpDecrypt, hsmwire.OpGenerateRandom:
		return true
	}
	return false
}

// readFrame reads the connection's next frame: a connection without a
// logged-in user may wait at most IdleTimeout for it to start, and a frame
// that has started must arrive within FrameTimeout.
func readFrame(c net.Conn, br *bufio.Reader, sess *session, limits Limits) ([]byte, error) {
	if br.Buffered() == 0 {
		idle := time.Time{}
		if !sess.current().loggedIn {
			idle = time.Now().Add(limits.IdleTimeout)
		}
		_ = c.SetReadDeadline(idle)
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(limits.FrameTimeout))
	return hsmwire.ReadFrame(br)
}

// runsConcurrently says which operations may overlap on one connection:
// those that neither change nor depend on later changes of the session.
func runsConcurrently(op hsmwire.Op) bool {
	switch op {
	case hsmwire.OpEncrypt, hsmwire.OpDecrypt, hsmwire.OpGenerateRandom, hsmwire.OpGenerateKey,
		hsmwire.OpExportKey, hsmwire.OpImportKey, hsmwire.OpDeleteKey:
		return true
	}
	return false
}
