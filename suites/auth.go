package suites

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// signedCall sends an AWS JSON 1.1 request with an arbitrary target and
// body, signed with creds at time at (unsigned when creds has no access
// key), after change (if any) has altered it, and returns the status,
// headers and decoded body.
func signedCall(ctx context.Context, s *suite, target string, body []byte, creds aws.Credentials, at time.Time, change func(*http.Request)) (int, http.Header, map[string]any) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Endpoint+"/", bytes.NewReader(body))
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	if creds.AccessKeyID != "" {
		sum := sha256.Sum256(body)
		gomega.Expect(v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", s.cfg.Region, at)).To(gomega.Succeed())
	}
	if change != nil {
		change(req)
	}
	resp, err := s.httpClient().Do(req)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	var out map[string]any
	gomega.Expect(json.Unmarshal(raw, &out)).To(gomega.Succeed(), "body is JSON: %s", raw)
	return resp.StatusCode, resp.Header, out
}

// authCall sends ListKeys as signedCall does and returns the status and
// the decoded body.
func authCall(ctx context.Context, s *suite, creds aws.Credentials, at time.Time, change func(*http.Request)) (int, map[string]any) {
	status, _, out := signedCall(ctx, s, "TrentService.ListKeys", []byte(`{"Limit":1}`), creds, at, change)
	return status, out
}

// refused asserts an authentication failure of type errType: a client
// error (AWS sends these as 400; 403 is accepted as well) with the type in
// __type.
func refused(status int, body map[string]any, errType string) {
	gomega.Expect(status).To(gomega.BeElementOf(http.StatusBadRequest, http.StatusForbidden), "status of %v", body)
	gomega.Expect(body).To(gomega.HaveKeyWithValue("__type", gomega.HaveSuffix(errType)))
}

func authSpecs(s *suite) {
	ginkgo.Describe("SigV4 authentication", ginkgo.Label("api:auth"), func() {
		credentials := func(ctx context.Context) aws.Credentials {
			creds, err := s.cfg.Credentials.Retrieve(ctx)
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			return creds
		}

		ruleIt("CKS-AUTH-001", func(ctx ginkgo.SpecContext) {
			status, body := authCall(ctx, s, credentials(ctx), time.Now(), nil)
			gomega.Expect(status).To(gomega.Equal(http.StatusOK), "%v", body)
			gomega.Expect(body).To(gomega.HaveKey("Keys"))
		})

		ruleIt("CKS-AUTH-002", func(ctx ginkgo.SpecContext) {
			status, body := authCall(ctx, s, aws.Credentials{}, time.Now(), nil)
			refused(status, body, "MissingAuthenticationTokenException")
		})

		ruleIt("CKS-AUTH-003", func(ctx ginkgo.SpecContext) {
			status, body := authCall(ctx, s, credentials(ctx), time.Now(), func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer not-a-signature")
			})
			refused(status, body, "IncompleteSignatureException")
		})

		ruleIt("CKS-AUTH-004", func(ctx ginkgo.SpecContext) {
			creds := credentials(ctx)
			creds.SecretAccessKey += "-wrong"
			status, body := authCall(ctx, s, creds, time.Now(), nil)
			refused(status, body, "InvalidSignatureException")
		})

		ruleIt("CKS-AUTH-005", func(ctx ginkgo.SpecContext) {
			status, body := authCall(ctx, s, credentials(ctx), time.Now(), func(r *http.Request) {
				changed := []byte(`{"Limit":2}`)
				r.Body = io.NopCloser(bytes.NewReader(changed))
				r.ContentLength = int64(len(changed))
			})
			refused(status, body, "InvalidSignatureException")
		})

		ruleIt("CKS-AUTH-006", func(ctx ginkgo.SpecContext) {
			for _, skew := range []time.Duration{-15 * time.Minute, 15 * time.Minute} {
				status, body := authCall(ctx, s, credentials(ctx), time.Now().Add(skew), nil)
				refused(status, body, "InvalidSignatureException")
			}
		})

		ruleIt("CKS-AUTH-007", func(ctx ginkgo.SpecContext) {
			creds := credentials(ctx)
			unknown := make([]byte, 8)
			_, _ = rand.Read(unknown)
			creds.AccessKeyID = fmt.Sprintf("AKIAUNKNOWN%X", unknown)[:20]
			status, body := authCall(ctx, s, creds, time.Now(), nil)
			refused(status, body, "UnrecognizedClientException")
		})
	})
}
