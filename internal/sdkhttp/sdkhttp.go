// Package sdkhttp is the HTTP client for the AWS SDK clients of the
// conformance suites.
//
// A kept-alive connection that has been idle as long as the server's idle
// timeout is closed by the server just as the client may pick it for the
// next request. Go's default transport keeps idle connections 90 s — as
// long as the harness's servers and many others keep them — so the two
// race: the request fails with "use of closed network connection" (the
// client saw the server's FIN and closed the connection under the write),
// "connection reset by peer" or EOF, and a client with one attempt fails
// the call. Two things fix it at the root:
//
//   - idle connections are dropped well before servers commonly close them
//     (20 s), so the client does not pick one the server is closing;
//   - the SDK builds requests whose body has no GetBody, so net/http cannot
//     send a request again even when not a byte of it left on a dead
//     connection; the transport here sends an in-memory copy with GetBody
//     set, and net/http retries such a request on a new connection itself.
package sdkhttp

import (
	"bytes"
	"io"
	"net/http"
	"time"
)

// idleConnTimeout is how long an idle connection is kept: under the idle
// timeouts servers commonly use (30 s and more), so that the client seldom
// picks a connection the server is closing.
const idleConnTimeout = 20 * time.Second

// requestTimeout bounds one HTTP exchange.
const requestTimeout = 2 * time.Minute

// NewClient returns an HTTP client for an SDK client: a transport of its
// own (nothing else in the process closes its connections) whose requests
// can be sent again when a kept-alive connection was closed under them.
func NewClient() *http.Client {
	return newClient(idleConnTimeout)
}

func newClient(idle time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.IdleConnTimeout = idle
	return &http.Client{Timeout: requestTimeout, Transport: Rewindable(t)}
}

// Rewindable wraps a transport so that every request with a body it cannot
// rewind goes out with an in-memory copy of the body and GetBody set.
func Rewindable(next http.RoundTripper) http.RoundTripper {
	return rewindable{next: next}
}

type rewindable struct{ next http.RoundTripper }

func (r rewindable) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return r.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	closeErr := req.Body.Close()
	if err == nil {
		err = closeErr
	}
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return r.next.RoundTrip(out)
}
