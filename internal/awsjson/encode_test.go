package awsjson_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// echoAnswer answers with the request's KeyId through awsjson.Object.
type echoAnswer struct {
	keyID string
	blob  []byte
}

func (a echoAnswer) AppendJSON(buf []byte) []byte {
	o := awsjson.NewObject(buf)
	o.String("KeyId", a.keyID)
	o.Blob("Plaintext", a.blob)
	o.Bool("Truncated", false)
	return o.Bytes()
}

var _ = Describe("Answers that encode themselves", func() {
	It("write each kind of value as encoding/json does", func() {
		for _, s := range []string{"", "plain", "arn:aws:kms:us-east-1:111122223333:key/1234abcd", `q"uote\`, "<html>&", "line\nbreak\x01", "é😀\u2028", "bad\xffutf8"} {
			want, err := json.Marshal(s)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(awsjson.AppendString(nil, s))).To(Equal(string(want)), "string %q", s)
		}
		o := awsjson.NewObject([]byte("prefix:"))
		o.String("A", "x")
		o.Blob("B", []byte{0, 1, 2, 250})
		o.Blob("N", nil)
		o.Bool("T", true)
		o.Raw("R", func(b []byte) []byte { return append(b, "[1,2]"...) })
		Expect(string(o.Bytes())).To(Equal(`prefix:{"A":"x","B":"AAEC+g==","N":null,"T":true,"R":[1,2]}`))
		empty := awsjson.NewObject(nil)
		Expect(string(empty.Bytes())).To(Equal(`{}`))
	})

	It("are served with their length, not chunked", func() {
		model, err := awsjson.LoadModel(awsjson.ModelKMS)
		Expect(err).NotTo(HaveOccurred())
		big := make([]byte, 4096)
		svc, err := awsjson.NewService(awsjson.Config{Model: model, Handlers: map[string]awsjson.Handler{
			"Encrypt": awsjson.Op(func(_ context.Context, in *encryptInput) (any, error) {
				return echoAnswer{keyID: in.KeyID, blob: big}, nil
			}),
		}})
		Expect(err).NotTo(HaveOccurred())
		srv := httptest.NewServer(svc)
		DeferCleanup(srv.Close)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"KeyId":"k<1>","Plaintext":"AA=="}`))
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", awsjson.ContentType)
		req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(resp.TransferEncoding).To(BeEmpty())
		Expect(resp.Header.Get("Content-Type")).To(Equal(awsjson.ContentType))
		var out struct {
			KeyId     string
			Plaintext []byte
			Truncated *bool
		}
		Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
		Expect(resp.ContentLength).To(BeNumerically(">", 4096))
		Expect(out.KeyId).To(Equal("k<1>"))
		Expect(out.Plaintext).To(Equal(big))
		Expect(out.Truncated).NotTo(BeNil())
	})
})
