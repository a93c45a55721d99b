// Package faultproxy relays TCP connections to an upstream address and puts
// toxiproxy's toxics (latency, resets, black holes, bandwidth limits) on
// them.
//
// While a proxy has no toxic, each connection is copied directly, one
// goroutine per direction: toxiproxy's own pipeline hands every chunk
// through three goroutines and two channels each way, which costs a
// request-response protocol a scheduler wake-up per hop. Once a toxic is
// added, every connection, those already open included, is handed to
// toxiproxy's toxic chain and stays there until it closes, so a fault
// reaches the connections a client already holds, as a real network fault
// would.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
)

// dialTimeout bounds a dial of the upstream for one accepted connection.
const dialTimeout = 10 * time.Second

// Proxy listens on a loopback port and relays each connection to its
// upstream. It is safe for concurrent use.
type Proxy struct {
	server *toxiproxy.ApiServer
	toxics *toxiproxy.Proxy // never started: only its ToxicCollection runs
	ln     net.Listener

	mu       sync.Mutex
	upstream string
	conns    map[*relayed]struct{} // open, or handed to toxiproxy and not yet seen closed
	closed   bool
	seq      int
	wg       sync.WaitGroup // the accept loop and every connection's goroutines
}

// relayed is one client connection and its connection to the upstream.
type relayed struct {
	name             string
	client, upstream *net.TCPConn

	direct   bool           // copied by pumps (under Proxy.mu)
	linked   bool           // handed to toxiproxy's links (under Proxy.mu)
	handover atomic.Bool    // the pumps are being stopped to hand the connection over
	pumps    sync.WaitGroup // the two direct copies
}

// New listens on a free loopback port; connections are refused (closed)
// until SetUpstream gives the address to relay to. server provides
// toxiproxy's metrics and logger for the toxic chains.
func New(server *toxiproxy.ApiServer, name string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy %s: %w", name, err)
	}
	p := &Proxy{
		server: server,
		toxics: toxiproxy.NewProxy(server, name, ln.Addr().String(), ""),
		ln:     ln,
		conns:  map[*relayed]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the loopback address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetUpstream relays new connections to addr. If the upstream changes,
// the connections to the old one are closed, as they would be if the
// server behind it moved.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.upstream == addr {
		return
	}
	p.upstream = addr
	for rc := range p.conns {
		rc.close()
	}
}

// AddToxicJSON adds a toxic given in toxiproxy's JSON form (name, type,
// stream, toxicity, attributes) and hands every directly copied connection
// over to the toxic chain. Bytes a direct copy had already read are
// delivered before the toxic applies to what follows.
func (p *Proxy) AddToxicJSON(body string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("fault proxy closed")
	}
	if _, err := p.toxics.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		return err
	}
	p.pruneLinked()
	for rc := range p.conns {
		if rc.direct {
			p.handOver(rc)
		}
	}
	return nil
}

// RemoveToxic removes the named toxic. Connections already handed to the
// toxic chain stay on it, without the toxic, until they close.
func (p *Proxy) RemoveToxic(name string) error {
	return p.toxics.Toxics.RemoveToxic(context.Background(), name)
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		_ = p.ln.Close()
		for rc := range p.conns {
			rc.close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		upstream := p.upstream
		p.mu.Unlock()
		if upstream == "" {
			_ = c.Close()
			continue
		}
		u, err := net.DialTimeout("tcp", upstream, dialTimeout)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed || p.upstream != upstream {
			p.mu.Unlock()
			_ = c.Close()
			_ = u.Close()
			continue
		}
		p.pruneLinked()
		p.seq++
		rc := &relayed{name: fmt.Sprintf("%s#%d", c.RemoteAddr(), p.seq), client: c.(*net.TCPConn), upstream: u.(*net.TCPConn)}
		p.conns[rc] = struct{}{}
		if len(p.toxics.Toxics.GetToxicArray()) > 0 {
			p.startLinks(rc)
		} else {
			rc.direct = true
			rc.pumps.Add(2)
			p.wg.Add(2)
			go p.pump(rc, rc.client, rc.upstream)
			go p.pump(rc, rc.upstream, rc.client)
		}
		p.mu.Unlock()
	}
}

// pump copies src to dst until either side fails, then closes the
// connection (both sockets, as toxiproxy does), unless it was stopped to
// hand the connection over to the toxic chain.
func (p *Proxy) pump(rc *relayed, src, dst *net.TCPConn) {
	defer p.wg.Done()
	defer rc.pumps.Done()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.drop(rc)
				return
			}
		}
		if err != nil {
			if rc.handover.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			p.drop(rc)
			return
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// handOver stops the direct copies of rc (a read deadline in the past
// wakes them) and, once both have delivered what they read, starts
// toxiproxy's links on its sockets. p.mu is held.
func (p *Proxy) handOver(rc *relayed) {
	rc.direct = false
	rc.handover.Store(true)
	_ = rc.client.SetReadDeadline(time.Now())
	_ = rc.upstream.SetReadDeadline(time.Now())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		// A copy blocked writing to a peer that does not read finishes
		// when the peer reads or the connection closes.
		rc.pumps.Wait()
		_ = rc.client.SetReadDeadline(time.Time{})
		_ = rc.upstream.SetReadDeadline(time.Time{})
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, open := p.conns[rc]; open && !p.closed {
			p.startLinks(rc)
		}
	}()
}

// startLinks runs rc through the toxic chain, both ways; p.mu is held.
// The links close both sockets when either side ends; rc stays in p.conns
// until pruneLinked sees that, so that SetUpstream and Close reach it.
func (p *Proxy) startLinks(rc *relayed) {
	rc.linked = true
	p.toxics.Toxics.StartLink(p.server, rc.name+"upstream", rc.client, rc.upstream, stream.Upstream)
	p.toxics.Toxics.StartLink(p.server, rc.name+"downstream", rc.upstream, rc.client, stream.Downstream)
}

// drop closes a directly copied connection after one side ended.
func (p *Proxy) drop(rc *relayed) {
	p.mu.Lock()
	delete(p.conns, rc)
	p.mu.Unlock()
	rc.close()
}

// pruneLinked forgets the connections toxiproxy has closed; p.mu is held.
func (p *Proxy) pruneLinked() {
	for rc := range p.conns {
		if rc.linked && isClosed(rc.client) && isClosed(rc.upstream) {
			delete(p.conns, rc)
		}
	}
}

// isClosed reports whether c has been closed, without reading from it.
func isClosed(c *net.TCPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	return raw.Control(func(uintptr) {}) != nil
}

func (rc *relayed) close() {
	_ = rc.client.Close()
	_ = rc.upstream.Close()
}
