package sdkbody_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/sdkbody"
)

// The end-to-end check (the real SDK against the real front end) is in
// internal/loadgen, whose client uses Wrap.
var _ = Describe("Wrap", func() {
	// seen records the request the next transport got.
	var seen *http.Request
	next := roundTripper(func(r *http.Request) (*http.Response, error) {
		seen = r
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})

	It("sends a body that can write itself out as one that can only be read, and leaves the caller's request alone", func() {
		body := io.NopCloser(bytes.NewReader([]byte(`{"KeyId":"k"}`)))
		_, isWriterTo := body.(io.WriterTo)
		Expect(isWriterTo).To(BeTrue(), "the body under test must have WriteTo")
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
		Expect(err).NotTo(HaveOccurred())
		_, err = sdkbody.Wrap(next).RoundTrip(req)
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).NotTo(BeIdenticalTo(req))
		_, isWriterTo = seen.Body.(io.WriterTo)
		Expect(isWriterTo).To(BeFalse())
		Expect(io.ReadAll(seen.Body)).To(Equal([]byte(`{"KeyId":"k"}`)))
		Expect(req.Body).To(BeIdenticalTo(body))
	})

	It("passes requests without a body, with NoBody, or with a body that cannot write itself out as they are", func() {
		for _, body := range []io.ReadCloser{nil, http.NoBody, io.NopCloser(io.LimitReader(strings.NewReader("x"), 1))} {
			req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
			Expect(err).NotTo(HaveOccurred())
			req.Body = body
			_, err = sdkbody.Wrap(next).RoundTrip(req)
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).To(BeIdenticalTo(req))
		}
	})
})

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
