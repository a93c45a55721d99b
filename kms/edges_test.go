package kms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// send posts a signed request to the KMS endpoint (at path, with the
// content type given after signing) and returns the status and body.
func send(ctx context.Context, path, contentType, target, body string) (int, map[string]any) {
	req, err := testenv.AWSJSONRequest(ctx, h.KMSEndpoint()+path, target, []byte(body),
		aws.Credentials{AccessKeyID: harness.AccessKeyID, SecretAccessKey: harness.SecretAccessKey}, "kms", h.Region(), time.Now())
	Expect(err).NotTo(HaveOccurred())
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	var out map[string]any
	Expect(json.Unmarshal(raw, &out)).To(Succeed(), "a JSON body: %.200s", raw)
	return resp.StatusCode, out
}

func call(ctx context.Context, target, body string) (int, map[string]any) {
	return send(ctx, "/", "", "TrentService."+target, body)
}

// These reproduce the probes of the hardening review: each used to reach a
// handler unchecked (a 500, a 254 MB answer, a misleading HSM error).
var _ = Describe("Requests the model check must stop", func() {
	It("reads only exactly named members: a lower-case limit is ignored, a Limit of -1 is a ValidationException", func(ctx SpecContext) {
		for _, op := range []string{"DescribeCustomKeyStores", "ListKeys", "ListAliases"} {
			status, out := call(ctx, op, `{"limit":-1}`)
			Expect(status).To(Equal(http.StatusOK), "%s: %v", op, out)
			status, out = call(ctx, op, `{"Limit":-1}`)
			Expect(status).To(Equal(http.StatusBadRequest), op)
			Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
			Expect(out["message"]).To(Equal("1 validation error detected: Value '-1' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"))
		}
	})

	It("draws the NumberOfBytes it checked, never a lower-case or repeated one", func(ctx SpecContext) {
		status, out := call(ctx, "GenerateRandom", `{"NumberOfBytes":1,"numberOfBytes":2000000}`)
		Expect(status).To(Equal(http.StatusOK))
		plain, err := base64.StdEncoding.DecodeString(out["Plaintext"].(string))
		Expect(err).NotTo(HaveOccurred())
		Expect(plain).To(HaveLen(1))
		status, out = call(ctx, "GenerateRandom", `{"NumberOfBytes":1,"NumberOfBytes":2000000}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
		_, err = client().GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
		Expect(code(err)).To(Equal("ValidationException"))
	})

	It("answers a plaintext over 4 KiB and GenerateRandom over 1,024 bytes in a store with ValidationException, before any HSM", func(ctx SpecContext) {
		_, storeID := connectedStore(ctx)
		k := hsmKey(ctx, storeID)

		// Above the HSM's 16 KiB cap: AWS refuses it by the model's 4,096.
		_, err := client().Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: make([]byte, 20000)})
		Expect(code(err)).To(Equal("ValidationException"))
		Expect(err.Error()).To(ContainSubstring("Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"))
		big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 20000))
		status, out := call(ctx, "Encrypt", `{"KeyId":"`+*k.KeyId+`","Plaintext":"aA==","plaintext":"`+big+`"}`)
		Expect(status).To(Equal(http.StatusOK), "%v", out)
		blob, err := base64.StdEncoding.DecodeString(out["CiphertextBlob"].(string))
		Expect(err).NotTo(HaveOccurred())
		dec, err := client().Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
		Expect(err).NotTo(HaveOccurred())
		Expect(dec.Plaintext).To(Equal([]byte("h")), "the checked Plaintext was encrypted, not the unchecked one")

		_, err = client().GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(100000), CustomKeyStoreId: aws.String(storeID)})
		Expect(code(err)).To(Equal("ValidationException"))
		status, out = call(ctx, "GenerateRandom", `{"NumberOfBytes":16,"numberOfBytes":100000,"CustomKeyStoreId":"`+storeID+`"}`)
		Expect(status).To(Equal(http.StatusOK), "%v", out)
		plain, err := base64.StdEncoding.DecodeString(out["Plaintext"].(string))
		Expect(err).NotTo(HaveOccurred())
		Expect(plain).To(HaveLen(16))
	})

	It("answers another Content-Type or another path with UnknownOperationException, as AWS does", func(ctx SpecContext) {
		// Routing comes before the signature check: these are unknown
		// operations, not signatures broken by the changed header.
		for _, c := range []struct{ path, contentType string }{
			{"/", "text/plain"},
			{"/", "application/json"},
			{"/kms", ""},
			{"/?Action=ListKeys", "application/x-www-form-urlencoded"},
		} {
			status, out := send(ctx, c.path, c.contentType, "TrentService.ListKeys", `{}`)
			Expect(status).To(Equal(http.StatusBadRequest), "%+v", c)
			Expect(out).To(HaveKeyWithValue("__type", "UnknownOperationException"), "%+v", c)
		}
	})
})
