package suites

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// rawCall sends a signed AWS JSON 1.1 request with an arbitrary target and
// body, and returns the status and decoded body.
func rawCall(ctx context.Context, s *suite, target string, body []byte) (int, http.Header, map[string]any) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Endpoint+"/", bytes.NewReader(body))
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	creds, err := s.cfg.Credentials.Retrieve(ctx)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	sum := sha256.Sum256(body)
	gomega.Expect(v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", s.cfg.Region, time.Now())).To(gomega.Succeed())
	resp, err := http.DefaultClient.Do(req)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	var out map[string]any
	gomega.Expect(json.Unmarshal(raw, &out)).To(gomega.Succeed(), "body is JSON: %s", raw)
	return resp.StatusCode, resp.Header, out
}

func protocolSpecs(s *suite) {
	ginkgo.Describe("the JSON 1.1 wire protocol", ginkgo.Label("api:protocol"), func() {
		ginkgo.It("answers an unknown X-Amz-Target with UnknownOperationException", func(ctx ginkgo.SpecContext) {
			status, hdr, body := rawCall(ctx, s, "TrentService.NoSuchOperation", []byte("{}"))
			gomega.Expect(status).To(gomega.Equal(http.StatusBadRequest))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("UnknownOperationException")))
			gomega.Expect(hdr.Get("Content-Type")).To(gomega.Equal("application/x-amz-json-1.1"))
		})

		ginkgo.It("answers malformed JSON with SerializationException", func(ctx ginkgo.SpecContext) {
			status, _, body := rawCall(ctx, s, "TrentService.DescribeCustomKeyStores", []byte("{\"Limit\": "))
			gomega.Expect(status).To(gomega.Equal(http.StatusBadRequest))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("SerializationException")))
		})

		ginkgo.It("answers a constraint breach with ValidationException in AWS's wording", func(ctx ginkgo.SpecContext) {
			status, _, body := rawCall(ctx, s, "TrentService.DescribeCustomKeyStores", []byte(`{"Limit": 1001}`))
			gomega.Expect(status).To(gomega.Equal(http.StatusBadRequest))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("ValidationException")))
			gomega.Expect(body["message"]).To(gomega.ContainSubstring("Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"))
		})

		ginkgo.It("never shows the key store password in a validation message", func(ctx ginkgo.SpecContext) {
			_, _, body := rawCall(ctx, s, "TrentService.CreateCustomKeyStore",
				[]byte(`{"CustomKeyStoreName":"x","CloudHsmClusterId":"cluster-aaaaaaaaaaa","TrustAnchorCertificate":"x","KeyStorePassword":"sh0rt"}`))
			gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix("ValidationException")))
			gomega.Expect(body["message"]).To(gomega.ContainSubstring("keyStorePassword"))
			gomega.Expect(body["message"]).NotTo(gomega.ContainSubstring("sh0rt"))
		})

		ginkgo.It("answers an empty body like {}", func(ctx ginkgo.SpecContext) {
			status, hdr, body := rawCall(ctx, s, "TrentService.ListKeys", nil)
			gomega.Expect(status).To(gomega.Equal(http.StatusOK))
			gomega.Expect(body).To(gomega.HaveKey("Keys"))
			gomega.Expect(body).To(gomega.HaveKey("Truncated"))
			gomega.Expect(hdr.Get("x-amzn-RequestId")).NotTo(gomega.BeEmpty())
		})
	})
}
