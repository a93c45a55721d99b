package suites

import (
	"context"
	"net/http"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// rawCall sends a signed AWS JSON 1.1 request with an arbitrary target and
// body, and returns the status and decoded body.
func rawCall(ctx context.Context, s *suite, target string, body []byte) (int, http.Header, map[string]any) {
	creds, err := s.cfg.Credentials.Retrieve(ctx)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return signedCall(ctx, s, target, body, creds, time.Now(), nil)
}

func protocolSpecs(s *suite) {
	ginkgo.Describe("the JSON 1.1 wire protocol", ginkgo.Label("api:protocol"), func() {
		ruleIt("CKS-PROTOCOL-001", func(ctx ginkgo.SpecContext) {
			status, hdr, body := rawCall(ctx, s, "TrentService.NoSuchOperation", []byte("{}"))
			gomega.Expect(status).To(gomega.Equal(http.StatusBadRequest))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("UnknownOperationException")))
			gomega.Expect(hdr.Get("Content-Type")).To(gomega.Equal("application/x-amz-json-1.1"))
		})

		ruleIt("CKS-PROTOCOL-002", func(ctx ginkgo.SpecContext) {
			status, _, body := rawCall(ctx, s, "TrentService.DescribeCustomKeyStores", []byte("{\"Limit\": "))
			gomega.Expect(status).To(gomega.Equal(http.StatusBadRequest))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("SerializationException")))
		})

		ruleIt("CKS-PROTOCOL-003", func(ctx ginkgo.SpecContext) {
			status, _, body := rawCall(ctx, s, "TrentService.DescribeCustomKeyStores", []byte(`{"Limit": 1001}`))
			gomega.Expect(status).To(gomega.Equal(http.StatusBadRequest))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("ValidationException")))
			gomega.Expect(body["message"]).To(gomega.ContainSubstring("Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"))
		})

		ruleIt("CKS-PROTOCOL-004", func(ctx ginkgo.SpecContext) {
			_, _, body := rawCall(ctx, s, "TrentService.CreateCustomKeyStore",
				[]byte(`{"CustomKeyStoreName":"x","CloudHsmClusterId":"cluster-aaaaaaaaaaa","TrustAnchorCertificate":"x","KeyStorePassword":"sh0rt"}`))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("ValidationException")))
			gomega.Expect(body["message"]).To(gomega.ContainSubstring("keyStorePassword"))
			gomega.Expect(body["message"]).NotTo(gomega.ContainSubstring("sh0rt"))
		})

		ruleIt("CKS-PROTOCOL-005", func(ctx ginkgo.SpecContext) {
			status, hdr, body := rawCall(ctx, s, "TrentService.ListKeys", nil)
			gomega.Expect(status).To(gomega.Equal(http.StatusOK))
			gomega.Expect(body).To(gomega.HaveKey("Keys"))
			gomega.Expect(body).To(gomega.HaveKey("Truncated"))
			gomega.Expect(hdr.Get("x-amzn-RequestId")).NotTo(gomega.BeEmpty())
		})
	})
}
