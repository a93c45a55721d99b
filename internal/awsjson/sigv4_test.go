package awsjson_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

const (
	keyID  = "AKIAEXAMPLE000000001"
	secret = "example-secret"
	region = "eu-west-3"
)

// signedService serves ListKeys of the KMS model behind SigV4 on a real
// loopback server, accepting two key pairs.
func signedService() string {
	model, err := awsjson.LoadModel(awsjson.ModelKMS)
	Expect(err).NotTo(HaveOccurred())
	svc, err := awsjson.NewService(awsjson.Config{Model: model, MessageField: "message",
		Auth: awsjson.NewSigV4("kms", region, map[string]string{keyID: secret, "AKIAEXAMPLE000000002": "second-secret"}),
		Handlers: map[string]awsjson.Handler{
			"ListKeys": awsjson.Op(func(context.Context, *struct{ Limit int }) (any, error) {
				return map[string]any{"Keys": []any{}, "Truncated": false}, nil
			}),
		}})
	Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(svc)
	DeferCleanup(srv.Close)
	return srv.URL
}

func sdkClient(url, id, key string) *kms.Client {
	return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(url), Credentials: credentials.NewStaticCredentialsProvider(id, key, "")})
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// signed builds a ListKeys request signed at time at for the service and
// region given; change alters it after signing.
func signed(url string, at time.Time, service, reg string, change func(*http.Request)) *http.Request {
	body := `{"Limit":5}`
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", awsjson.ContentType)
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum := sha256.Sum256([]byte(body))
	Expect(v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req,
		hex.EncodeToString(sum[:]), service, reg, at)).To(Succeed())
	if change != nil {
		change(req)
	}
	return req
}

// answer sends req and returns the error type and message.
func answer(req *http.Request) (int, string, string) {
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var out struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	Expect(jsonDecode(resp, &out)).To(Succeed())
	return resp.StatusCode, out.Type, out.Message
}

var _ = Describe("SigV4", func() {
	var url string
	BeforeEach(func() { url = signedService() })

	It("accepts the AWS SDK for Go with any configured key pair", func(ctx SpecContext) {
		_, err := sdkClient(url, keyID, secret).ListKeys(ctx, &kms.ListKeysInput{})
		Expect(err).NotTo(HaveOccurred())
		_, err = sdkClient(url, "AKIAEXAMPLE000000002", "second-secret").ListKeys(ctx, &kms.ListKeysInput{})
		Expect(err).NotTo(HaveOccurred())
	})

	It("answers a wrong secret key with InvalidSignatureException and an unknown key with UnrecognizedClientException", func(ctx SpecContext) {
		_, err := sdkClient(url, keyID, "wrong").ListKeys(ctx, &kms.ListKeysInput{})
		Expect(errorCode(err)).To(Equal("InvalidSignatureException"))
		Expect(err.Error()).To(ContainSubstring("The request signature we calculated does not match the signature you provided."))
		_, err = sdkClient(url, "AKIAUNKNOWN000000000", secret).ListKeys(ctx, &kms.ListKeysInput{})
		Expect(errorCode(err)).To(Equal("UnrecognizedClientException"))
		Expect(err.Error()).To(ContainSubstring("The security token included in the request is invalid."))
	})

	It("answers a request without a signature with MissingAuthenticationTokenException", func() {
		status, typ, msg := answer(signed(url, time.Now(), "kms", region, func(r *http.Request) { r.Header.Del("Authorization") }))
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(typ).To(Equal("MissingAuthenticationTokenException"))
		Expect(msg).To(Equal("Request is missing Authentication Token"))
	})

	It("answers a malformed Authorization header with IncompleteSignatureException", func() {
		status, typ, msg := answer(signed(url, time.Now(), "kms", region, func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }))
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(typ).To(Equal("IncompleteSignatureException"))
		Expect(msg).To(Equal("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
			"Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc"))
		_, typ, msg = answer(signed(url, time.Now(), "kms", region, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential=", "Credential ", 1))
		}))
		Expect(typ).To(Equal("IncompleteSignatureException"))
		Expect(msg).To(ContainSubstring("not a valid key=value pair (missing equal-sign) in Authorization header"))
		_, typ, _ = answer(signed(url, time.Now(), "kms", region, func(r *http.Request) { r.Header.Del("X-Amz-Date") }))
		Expect(typ).To(Equal("IncompleteSignatureException"))
	})

	It("answers a request dated more than 5 minutes away with InvalidSignatureException", func() {
		status, typ, msg := answer(signed(url, time.Now().Add(-6*time.Minute), "kms", region, nil))
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(typ).To(Equal("InvalidSignatureException"))
		Expect(msg).To(MatchRegexp(`^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$`))
		_, typ, msg = answer(signed(url, time.Now().Add(6*time.Minute), "kms", region, nil))
		Expect(typ).To(Equal("InvalidSignatureException"))
		Expect(msg).To(HavePrefix("Signature not yet current: "))
		_, typ, _ = answer(signed(url, time.Now().Add(-4*time.Minute), "kms", region, nil))
		Expect(typ).To(BeEmpty(), "4 minutes off is within the skew")
	})

	It("answers a signature for another region, another service, another body or another target with InvalidSignatureException", func() {
		_, typ, msg := answer(signed(url, time.Now(), "kms", "us-east-1", nil))
		Expect(typ).To(Equal("InvalidSignatureException"))
		Expect(msg).To(Equal("Credential should be scoped to a valid region, not 'us-east-1'. "))
		_, typ, msg = answer(signed(url, time.Now(), "cloudhsm", region, nil))
		Expect(typ).To(Equal("InvalidSignatureException"))
		Expect(msg).To(Equal("Credential should be scoped to correct service: 'kms'. "))
		_, typ, _ = answer(signed(url, time.Now(), "kms", region, func(r *http.Request) {
			r.Body = http.NoBody
			r.ContentLength = 0
		}))
		Expect(typ).To(Equal("InvalidSignatureException"))
		_, typ, _ = answer(signed(url, time.Now(), "kms", region, func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.ListAliases") }))
		Expect(typ).To(Equal("InvalidSignatureException"))
	})
})
