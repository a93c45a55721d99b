// Package sdkhttp is the HTTP client for kmsharness's own AWS SDK clients:
// the conformance suites', the chaos runner's, the bench's and
// kmsharnesstest's.
//
// Two things broke calls on kept-alive connections, neither
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
// own (nothing else in the process closes its connections), adjusted by
// tune (more idle connections for many workers, say). Every SDK client
// kmsharness makes — the suites', the chaos runner's, the bench's and
// kmsharnesstest's — uses it.
func NewClient(tune ...func(*http.Transport)) *http.Client {
	return newClient(idleConnTimeout, tune...)
}

func newClient(idle time.Duration, tune ...func(*http.Transport)) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.IdleConnTimeout = idle
	for _, fn := range tune {
		if fn != nil {
			fn(t)
		}
	}
	return &http.Client{Timeout: requestTimeout, Transport: sdkbody.Wrap(t)}
}
