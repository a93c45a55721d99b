package harness

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// ServerLimits bound what one client can hold of the harness's HTTP
// servers (KMS, CloudHSMv2, control): how long a request's header and body
// may take to arrive, how long an answer may take to be written, how long
// an idle keep-alive connection stays open, and how many connections are
// served at once (more wait to be accepted until one closes).
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a request's header.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's header to
	// the end of its answer (the operation's own time included: making a
	// cluster through the control API takes a while on a loaded machine,
	// and control.Client allows it control.DefaultTimeout).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request.
	IdleTimeout time.Duration
	// MaxConnections caps the connections a server serves at once.
	MaxConnections int
}

// DefaultServerLimits are the limits unless WithServerLimits is given:
// generous for tests and SDK retries, finite for clients that misbehave.
var DefaultServerLimits = ServerLimits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      5 * time.Minute,
	IdleTimeout:       90 * time.Second,
	MaxConnections:    1024,
}

// withDefaults fills the zero fields of l from DefaultServerLimits.
func (l ServerLimits) withDefaults() ServerLimits {
	d := DefaultServerLimits
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.MaxConnections > 0 {
		d.MaxConnections = l.MaxConnections
	}
	return d
}

// newServer returns a server of handler with the limits, and the listener
// (capped at MaxConnections) to serve l through.
func (l ServerLimits) newServer(handler http.Handler, listener net.Listener) (*http.Server, net.Listener) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout}
	return srv, netutil.LimitListener(listener, l.MaxConnections)
}
