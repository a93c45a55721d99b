// Package hsmclient talks to hsmnode daemons: Conn is one TLS connection
// (one HSM session, with its own login) multiplexing concurrent calls, and
// Cluster spreads key creation, crypto with failover, and user management
// over the HSMs of a cluster. It needs no cgo.
package hsmclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
)

// ErrConnClosed means the connection to the node is gone; calls in flight
// and later calls fail with it (wrapped with the cause).
var ErrConnClosed = errors.New("hsm connection closed")

// Conn is a connection to one HSM node. It is safe for concurrent use: calls
// are multiplexed over the one TLS connection. The login state belongs to
// the connection.
type Conn struct {
	hsmID string
	addr  string
	nc    net.Conn

	fw   *hsmwire.FrameWriter
	done chan struct{}
	dead atomic.Bool // set once the connection is gone (err then says why)

	mu      sync.Mutex
	pending map[uint32]*pendingCall
	nextID  uint32
	err     error // set once the connection is gone
}

// pendingCall is a call waiting for its response. Calls are reused: the
// read loop hands a response over while holding Conn.mu, so a call that
// gave up waiting and found itself still pending (forget) can be reused.
type pendingCall struct {
	ch chan *hsmwire.Response // buffered: one response, or closed with the connection
}

var callPool = sync.Pool{New: func() any { return &pendingCall{ch: make(chan *hsmwire.Response, 1)} }}

// timerPool holds stopped timers for calls with a timeout.
var timerPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// Dial connects to the node at addr, verifying that it is hsmID (the DNS
// name in its certificate; empty skips the name check) and that its
// certificate chains to one of the trust anchors.
func Dial(ctx context.Context, addr, hsmID string, anchors []*x509.Certificate) (*Conn, error) {
	if len(anchors) == 0 {
		return nil, errors.New("hsmclient: a trust anchor is required")
	}
	d := tls.Dialer{Config: tlsConfig(hsmID, anchors), NetDialer: &net.Dialer{KeepAlive: 15 * time.Second}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hsmclient: dial %s (%s): %w", hsmID, addr, err)
	}
	c := &Conn{
		hsmID: hsmID, addr: addr, nc: nc,
		fw:      hsmwire.NewFrameWriter(nc),
		done:    make(chan struct{}),
		pending: map[uint32]*pendingCall{},
	}
	go c.readLoop()
	return c, nil
}

// HSMID returns the ID of the HSM this connection talks to.
func (c *Conn) HSMID() string { return c.hsmID }

// Addr returns the address dialled.
func (c *Conn) Addr() string { return c.addr }

// Close ends the connection; the node logs its user out.
func (c *Conn) Close() error {
	c.fail(ErrConnClosed)
	return nil
}

// Done is closed when the connection is gone.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection is gone, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) fail(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if !errors.Is(cause, ErrConnClosed) {
		cause = fmt.Errorf("%w: %w", ErrConnClosed, cause)
	}
	c.err = cause
	c.dead.Store(true)
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	_ = c.nc.Close()
	for _, pc := range pending {
		close(pc.ch)
	}
}

// alive reports whether the connection is up, without locking.
func (c *Conn) alive() bool { return !c.dead.Load() }

func (c *Conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		body, err := hsmwire.ReadFrame(br)
		if err != nil {
			c.fail(err)
			return
		}
		resp, err := hsmwire.DecodeResponse(body)
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		if pc := c.pending[resp.ID]; pc != nil {
			delete(c.pending, resp.ID)
			pc.ch <- resp // never blocks: the channel holds one response
		}
		c.mu.Unlock()
	}
}

// call sends req and waits for its response, the connection's end, or ctx.
func (c *Conn) call(ctx context.Context, req *hsmwire.Request) (*hsmwire.Response, error) {
	return c.callWithin(ctx, 0, req)
}

// callWithin is call that also gives up after timeout (if positive) with
// context.DeadlineExceeded: a per-attempt bound that costs no context.
func (c *Conn) callWithin(ctx context.Context, timeout time.Duration, req *hsmwire.Request) (*hsmwire.Response, error) {
	pc := callPool.Get().(*pendingCall)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		callPool.Put(pc)
		return nil, err
	}
	c.nextID++
	id := c.nextID
	req.ID = id
	c.pending[id] = pc
	c.mu.Unlock()

	if err := c.fw.WriteEncoded(func(buf []byte) []byte { return hsmwire.AppendRequest(buf, req) }); err != nil {
		c.fail(err)
		return nil, c.Err()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := timerPool.Get().(*time.Timer)
		t.Reset(timeout)
		defer func() { t.Stop(); timerPool.Put(t) }()
		expired = t.C
	}
	select {
	case resp, ok := <-pc.ch:
		if !ok {
			return nil, c.Err()
		}
		callPool.Put(pc)
		if resp.Status != hsmwire.StatusOK {
			return nil, &hsmwire.Error{Status: resp.Status, Message: resp.Message}
		}
		return resp, nil
	case <-ctx.Done():
		c.abandon(id, pc)
		return nil, ctx.Err()
	case <-expired:
		c.abandon(id, pc)
		return nil, context.DeadlineExceeded
	}
}

// abandon stops waiting for call id; its pendingCall is reused only if no
// response reached it meanwhile.
func (c *Conn) abandon(id uint32, pc *pendingCall) {
	c.mu.Lock()
	_, stillPending := c.pending[id]
	if stillPending {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if stillPending {
		callPool.Put(pc)
	}
}

func (c *Conn) callJSON(ctx context.Context, req *hsmwire.Request, v any) error {
	resp, err := c.call(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Data, v); err != nil {
		return fmt.Errorf("hsmclient: %s answer: %w", req.Op, err)
	}
	return nil
}
