// Package sdkbody keeps the AWS SDK for Go v2 from failing calls whose
// request body is larger than net/http's write buffer.
//
// The SDK (smithy-go) hands net/http each request body wrapped in a
// "safe" reader that it closes as soon as the response's header has
// arrived; when the wrapped reader can write itself out (io.WriterTo, as
// the SDK's in-memory JSON bodies can), the wrapper's WriteTo answers
// io.EOF once closed. net/http, after sending the body, copies what is
// left of it once more to check that nothing exceeds the Content-Length,
// and that copy uses WriteTo. A body that does not fit in the transport's
// 4 KiB write buffer goes out before that check, so a fast server answers
// before the check runs; the SDK closes the body; the check gets io.EOF
// from WriteTo, which io.Copy returns as an error; the transport takes it
// for a failed write and closes the connection while the SDK is reading
// the answer. The call fails with "https response error StatusCode: 200
// … deserialization failed … use of closed network connection", the SDK
// logs "failed to discard remaining HTTP response body", and a client
// without retries counts a transport error. The server did nothing wrong:
// it answered a request it had read to the end.
//
// Wrap hides WriteTo from net/http, so that it reads the body with Read,
// which the same wrapper answers with io.EOF once closed: the end of a
// body that was sent in full, not an error.
package sdkbody

import (
	"io"
	"net/http"
)

// Wrap returns a transport that sends each request through next with a
// body that net/http can only Read.
func Wrap(next http.RoundTripper) http.RoundTripper {
	return readOnlyBodies{next: next}
}

type readOnlyBodies struct{ next http.RoundTripper }

func (t readOnlyBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := req.Body.(io.WriterTo); !ok || req.Body == http.NoBody {
		return t.next.RoundTrip(req)
	}
	// A RoundTripper must not change the request it was given: send a
	// shallow copy.
	out := req.WithContext(req.Context())
	out.Body = readCloser{req.Body}
	return t.next.RoundTrip(out)
}

// readCloser has only the methods of io.ReadCloser, whatever the body it
// wraps has besides.
type readCloser struct{ io.ReadCloser }
