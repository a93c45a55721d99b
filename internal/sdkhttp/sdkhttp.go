// Package sdkhttp is the HTTP client for the AWS SDK clients of the
// conformance suites.
//
// Two things broke the suites' calls on kept-alive connections, neither
// the target's fault:
//
//   - the SDK closes a request body as soon as the answer's header is in,
//     which breaks net/http's write of a body over 4 KiB ("use of closed
//     network connection"): package sdkbody hides the body's WriteTo;
//   - a connection idle as long as the server's idle timeout is closed by
//     the server just as the client may pick it for the next request. Go's
//     default transport keeps idle connections 90 s — as long as the
//     harness's servers and many others keep them — so the two race and the
//     call fails with "connection reset by peer", "broken pipe" or EOF. The
//     transport here drops idle connections after 20 s, before servers
//     commonly close them.
package sdkhttp

import (
	"net/http"
	"time"

	"github.com/kmsharness/kmsharness/internal/sdkbody"
)

// idleConnTimeout is how long an idle connection is kept: under the idle
// timeouts servers commonly use (30 s and more), so that the client does
// not pick a connection the server is closing.
const idleConnTimeout = 20 * time.Second

// requestTimeout bounds one HTTP exchange.
const requestTimeout = 2 * time.Minute

// NewClient returns an HTTP client for an SDK client: a transport of its
// own (nothing else in the process closes its connections).
func NewClient() *http.Client {
	return newClient(idleConnTimeout)
}

func newClient(idle time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.IdleConnTimeout = idle
	return &http.Client{Timeout: requestTimeout, Transport: sdkbody.Wrap(t)}
}
