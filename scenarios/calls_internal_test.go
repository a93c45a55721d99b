package scenarios

import (
	"context"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("What a call's answer records", func() {
	// call makes a DescribeKey against a server that answers with respond.
	call := func(ctx context.Context, respond http.HandlerFunc) (string, *CallError) {
		srv := httptest.NewServer(respond)
		DeferCleanup(srv.Close)
		client := newKMSClient(Target{Endpoint: srv.URL, Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
		_, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")})
		return classify(err)
	}
	awsError := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}

	It("an AWS exception: a failure with its type and status", func(ctx SpecContext) {
		result, ce := call(ctx, awsError(400, `{"__type":"NotFoundException","message":"gone"}`))
		Expect(result).To(Equal(resultFail))
		Expect(*ce).To(Equal(CallError{Type: "NotFoundException", Message: "gone", Status: 400}))
	}, SpecTimeout(20*time.Second))

	It("an error without __type: an untyped failure", func(ctx SpecContext) {
		result, ce := call(ctx, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		})
		Expect(result).To(Equal(resultFail))
		Expect(ce.Type).To(BeElementOf(excUntyped, excNotAWSJSON))
		Expect(ce.Status).To(Equal(502))
		result, ce = call(ctx, awsError(500, `{"message":"no type"}`))
		Expect(result).To(Equal(resultFail))
		Expect(ce.Type).To(Equal(excUntyped))
		Expect(ce.Status).To(Equal(500))
	}, SpecTimeout(20*time.Second))

	It("a success that is not AWS JSON: a failure", func(ctx SpecContext) {
		result, ce := call(ctx, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>ok</html>")) })
		Expect(result).To(Equal(resultFail))
		Expect(ce.Type).To(Equal(excNotAWSJSON))
	}, SpecTimeout(20*time.Second))

	It("a cut connection: an unknown outcome", func(ctx SpecContext) {
		result, _ := call(ctx, func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			Expect(err).NotTo(HaveOccurred())
			_ = conn.Close()
		})
		Expect(result).To(Equal(resultUnknown))
	}, SpecTimeout(20*time.Second))

	It("a call cancelled before its answer: an unknown outcome", func(ctx SpecContext) {
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		result, _ := call(cctx, func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		})
		Expect(result).To(Equal(resultUnknown))
	}, SpecTimeout(20*time.Second))
})
