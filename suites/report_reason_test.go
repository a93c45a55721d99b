package suites

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// failure returns the message Gomega fails with when assert runs.
func failure(assert func(g gomega.Gomega)) string {
	var msg string
	g := gomega.NewGomega(func(m string, _ ...int) {
		if msg == "" {
			msg = m
		}
	})
	assert(g)
	gomega.ExpectWithOffset(1, msg).NotTo(gomega.BeEmpty(), "the assertion failed")
	return msg
}

// Real Gomega messages, condensed.
var _ = ginkgo.DescribeTable("A failure's reason",
	func(assert func(g gomega.Gomega), want string) {
		got := condense(failure(assert))
		gomega.Expect(got).To(gomega.MatchRegexp(want))
		gomega.Expect(got).NotTo(gomega.ContainSubstring("0x"), "no addresses")
		gomega.Expect(len([]rune(got))).To(gomega.BeNumerically("<=", maxReason))
	},
	ginkgo.Entry("is the AWS error of a real SDK call", func(g gomega.Gomega) {
		srv := awsErrorServer()
		defer srv.Close()
		client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
		_, err := client.ConnectCustomKeyStore(context.Background(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
		g.Expect(err).To(gomega.Succeed())
	}, `^unexpected error: ConnectCustomKeyStore: CustomKeyStoreInvalidStateException: The custom key store cks-0123456789abcdef0 is not DISCONNECTED\.$`),
	ginkgo.Entry("is the error of a call that got no answer", func(g gomega.Gomega) {
		client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:9"), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
		_, err := client.ListKeys(context.Background(), &kms.ListKeysInput{})
		g.Expect(err).NotTo(gomega.HaveOccurred(), "listing keys")
	}, `^listing keys: unexpected error: ListKeys: .*connection refused$`),
	ginkgo.Entry("says what Eventually waited for", func(g gomega.Gomega) {
		g.Eventually(func() kmstypes.ConnectionStateType { return kmstypes.ConnectionStateTypeConnecting }).
			WithTimeout(50*time.Millisecond).WithPolling(10*time.Millisecond).Should(gomega.Equal(kmstypes.ConnectionStateTypeConnected), "waiting for %s", "cks-1")
	}, `^timed out after 0\.\d+s: waiting for cks-1: expected CONNECTED, observed CONNECTING$`),
	ginkgo.Entry("names a struct by its set fields, not nested ones", func(g gomega.Gomega) {
		g.Expect(&kms.DescribeCustomKeyStoresOutput{CustomKeyStores: []kmstypes.CustomKeyStoresListEntry{{CustomKeyStoreId: aws.String("cks-1")}},
			NextMarker: aws.String("m"), Truncated: true}).To(gomega.BeNil())
	}, `^observed \*kms.DescribeCustomKeyStoresOutput\{CustomKeyStores: …, NextMarker: "m", Truncated: true\}, expected to be nil$`),
	ginkgo.Entry("is an expectation on an error's type", func(g gomega.Gomega) {
		g.Expect(errors.New("boom")).To(gomega.MatchError(http.ErrServerClosed))
	}, `^observed boom, expected to match error http: Server closed$`),
)

var _ = ginkgo.It("shows an SDK error in a failure message by its text, not its structs", func() {
	srv := awsErrorServer()
	defer srv.Close()
	client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	_, err := client.ConnectCustomKeyStore(context.Background(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
	msg := failure(func(g gomega.Gomega) { g.Expect(err).NotTo(gomega.HaveOccurred()) })
	gomega.Expect(msg).To(gomega.ContainSubstring(err.Error()))
	gomega.Expect(msg).NotTo(gomega.ContainSubstring("ServiceID"), "no struct dump")
	gomega.Expect(strings.Count(strings.TrimSpace(msg), "\n")).To(gomega.BeNumerically("<=", 4), msg)
})

var _ = ginkgo.It("keeps a message without Gomega's shapes, on one line", func() {
	gomega.Expect(condense("first line\n\nsecond   line")).To(gomega.Equal("first line: second line"))
	gomega.Expect(condense(strings.Repeat("x", 2*maxReason))).To(gomega.HaveLen(len(strings.Repeat("x", maxReason-1)) + len("…")))
})
