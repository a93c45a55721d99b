package awsjson_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// The inputs the specs decode into, named as the KMS model names members.
type (
	listInput struct {
		Limit  int
		Marker string
	}
	randomInput struct {
		NumberOfBytes    int
		CustomKeyStoreID string `json:"CustomKeyStoreId"`
	}
	encryptInput struct {
		KeyID             string `json:"KeyId"`
		Plaintext         []byte
		EncryptionContext map[string]string
		GrantTokens       []string
		DryRun            *bool
	}
	storeInput struct {
		CustomKeyStoreName string
		KeyStorePassword   string
	}
)

// kmsService serves four KMS operations whose handlers record what they
// were given, on a real loopback server.
type kmsService struct {
	url     string
	list    chan listInput
	random  chan randomInput
	encrypt chan encryptInput
}

func newKMSService() *kmsService {
	k := &kmsService{list: make(chan listInput, 1), random: make(chan randomInput, 1), encrypt: make(chan encryptInput, 1)}
	model, err := awsjson.LoadModel(awsjson.ModelKMS)
	Expect(err).NotTo(HaveOccurred())
	svc, err := awsjson.NewService(awsjson.Config{Model: model, MessageField: "message", InternalType: "KMSInternalException",
		UnsupportedType: "UnsupportedOperationException", Handlers: map[string]awsjson.Handler{
			"ListKeys": awsjson.Op(func(_ context.Context, in *listInput) (any, error) {
				k.list <- *in
				return map[string]any{"Keys": []any{}}, nil
			}),
			"GenerateRandom": awsjson.Op(func(_ context.Context, in *randomInput) (any, error) { k.random <- *in; return nil, nil }),
			"Encrypt":        awsjson.Op(func(_ context.Context, in *encryptInput) (any, error) { k.encrypt <- *in; return nil, nil }),
			"CreateCustomKeyStore": awsjson.Op(func(_ context.Context, in *storeInput) (any, error) {
				return nil, nil
			}),
		}})
	Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(svc)
	DeferCleanup(srv.Close)
	k.url = srv.URL
	return k
}

// post sends a request and returns its status and JSON body.
func post(url, target, body string, headers ...string) (int, map[string]any) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", awsjson.ContentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Header.Get("Content-Type")).To(Equal(awsjson.ContentType))
	var out map[string]any
	Expect(json.Unmarshal(raw, &out)).To(Succeed(), string(raw))
	return resp.StatusCode, out
}

var _ = Describe("The one-pass decoder", func() {
	var k *kmsService
	BeforeEach(func() { k = newKMSService() })

	It("matches member names exactly, as AWS does, and ignores members the model does not have", func() {
		status, _ := post(k.url+"/", "TrentService.ListKeys", `{"limit":-1,"Marker":"m"}`)
		Expect(status).To(Equal(http.StatusOK))
		Expect(<-k.list).To(Equal(listInput{Marker: "m"}), "the handler never sees the unchecked lower-case member")

		status, _ = post(k.url+"/", "TrentService.GenerateRandom", `{"NumberOfBytes":1,"numberOfBytes":200000000}`)
		Expect(status).To(Equal(http.StatusOK))
		Expect(<-k.random).To(Equal(randomInput{NumberOfBytes: 1}))
	})

	It("checks the value it decodes against the model: a limit of -1 is a ValidationException", func() {
		status, out := post(k.url+"/", "TrentService.ListKeys", `{"Limit":-1}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
		Expect(out["message"]).To(Equal("1 validation error detected: Value '-1' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"))
		Expect(k.list).To(BeEmpty())
	})

	It("refuses a member given twice, so that no reader of the body can take another copy than the one checked", func() {
		status, out := post(k.url+"/", "TrentService.GenerateRandom", `{"NumberOfBytes":1,"NumberOfBytes":200000000}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
		status, out = post(k.url+"/", "TrentService.Encrypt", `{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"1","a":"2"}}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
		Expect(k.random).To(BeEmpty())
		Expect(k.encrypt).To(BeEmpty())
	})

	It("decodes blobs, maps, lists and optional booleans into the handler's types", func() {
		status, _ := post(k.url+"/", "TrentService.Encrypt", `{"KeyId":"k","Plaintext":"aGVsbG8=","EncryptionContext":{"app":"x"},"GrantTokens":["t"],"DryRun":false}`)
		Expect(status).To(Equal(http.StatusOK))
		in := <-k.encrypt
		Expect(in.KeyID).To(Equal("k"))
		Expect(in.Plaintext).To(Equal([]byte("hello")))
		Expect(in.EncryptionContext).To(Equal(map[string]string{"app": "x"}))
		Expect(in.GrantTokens).To(Equal([]string{"t"}))
		Expect(in.DryRun).To(HaveValue(BeFalse()))
	})

	It("measures blobs after base64 decoding, and never shows a plaintext", func() {
		big := strings.Repeat("QUFB", 1366) // 4,098 bytes
		status, out := post(k.url+"/", "TrentService.Encrypt", `{"KeyId":"k","Plaintext":"`+big+`"}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
		Expect(out["message"]).To(Equal("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"))
		status, out = post(k.url+"/", "TrentService.Encrypt", `{"KeyId":"k","Plaintext":"not base64!"}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
	})

	It("lists every breach, required members included, in AWS's words, and hides sensitive values", func() {
		status, out := post(k.url+"/", "TrentService.CreateCustomKeyStore", `{"KeyStorePassword":"sh0rt"}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
		Expect(out["message"]).To(HavePrefix("2 validation errors detected: "))
		Expect(out["message"]).To(ContainSubstring("Value at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7"))
		Expect(out["message"]).To(ContainSubstring("Value null at 'customKeyStoreName' failed to satisfy constraint: Member must not be null"))
		Expect(out["message"]).NotTo(ContainSubstring("sh0rt"))

		status, out = post(k.url+"/", "TrentService.Encrypt", `{"KeyId":"","Plaintext":"aGk=","GrantTokens":[""],"EncryptionContext":{"":"v"}}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out["message"]).To(HavePrefix("2 validation errors detected: "))
		Expect(out["message"]).To(ContainSubstring("Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"))
		Expect(out["message"]).To(ContainSubstring("Value '' at 'grantTokens.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1"))
	})

	DescribeTable("answers a value of the wrong JSON type with SerializationException",
		func(target, body, message string) {
			status, out := post(k.url+"/", target, body)
			Expect(status).To(Equal(http.StatusBadRequest))
			Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
			Expect(out["message"]).To(ContainSubstring(message))
		},
		Entry("a string for an integer", "TrentService.ListKeys", `{"Limit":"10"}`, "STRING_VALUE can not be converted to an Integer"),
		Entry("a number for a string", "TrentService.ListKeys", `{"Marker":5}`, "NUMBER_VALUE can not be converted to a String"),
		Entry("a fraction for an integer", "TrentService.ListKeys", `{"Limit":1.5}`, "can not be converted to an Integer"),
		Entry("an integer beyond 32 bits", "TrentService.ListKeys", `{"Limit":9223372036854775807}`, "can not be converted to an Integer"),
		Entry("an integer beyond 64 bits", "TrentService.ListKeys", `{"Limit":92233720368547758070}`, "can not be converted to an Integer"),
		Entry("an object for a string", "TrentService.ListKeys", `{"Marker":{}}`, "Start of structure or map found where not expected"),
		Entry("a list for a map", "TrentService.Encrypt", `{"EncryptionContext":[]}`, "Start of list found where not expected"),
		Entry("not JSON", "TrentService.ListKeys", `{"Limit": `, "not valid JSON"),
		Entry("data after the object", "TrentService.ListKeys", `{} {}`, "data after"),
		Entry("not an object", "TrentService.ListKeys", `null`, "must be a JSON object"),
		Entry("invalid UTF-8", "TrentService.ListKeys", "{\"Marker\":\"\xff\"}", "UTF-8"),
		Entry("an unpaired surrogate", "TrentService.ListKeys", `{"Marker":"\ud800"}`, "surrogate"),
		Entry("deep nesting in an unknown member", "TrentService.ListKeys", `{"x":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`, "nested more than"),
	)

	It("reads 1e2 and 100.0 as the whole number they are, and an empty body as {}", func() {
		status, _ := post(k.url+"/", "TrentService.ListKeys", `{"Limit":1e2}`)
		Expect(status).To(Equal(http.StatusOK))
		Expect(<-k.list).To(Equal(listInput{Limit: 100}))
		status, _ = post(k.url+"/", "TrentService.ListKeys", ``)
		Expect(status).To(Equal(http.StatusOK))
		Expect(<-k.list).To(Equal(listInput{}))
	})

	It("refuses, when it starts, a handler whose input type does not fit the model", func() {
		model, err := awsjson.LoadModel(awsjson.ModelKMS)
		Expect(err).NotTo(HaveOccurred())
		type misnamed struct{ Limit, Limit2 int }
		_, err = awsjson.NewService(awsjson.Config{Model: model, Handlers: map[string]awsjson.Handler{
			"ListKeys": awsjson.Op(func(context.Context, *misnamed) (any, error) { return nil, nil })}})
		Expect(err).To(MatchError(ContainSubstring("Limit2 names no member")))
		type mistyped struct{ Limit string }
		_, err = awsjson.NewService(awsjson.Config{Model: model, Handlers: map[string]awsjson.Handler{
			"ListKeys": awsjson.Op(func(context.Context, *mistyped) (any, error) { return nil, nil })}})
		Expect(err).To(MatchError(ContainSubstring("cannot hold the integer shape")))
	})
})

var _ = Describe("Routing", func() {
	var k *kmsService
	BeforeEach(func() { k = newKMSService() })

	It("answers another path, another content type, no or an unknown X-Amz-Target with UnknownOperationException", func() {
		for _, c := range []struct{ path, target, contentType string }{
			{"/other", "TrentService.ListKeys", awsjson.ContentType},
			{"/", "TrentService.ListKeys", "text/plain"},
			{"/", "TrentService.ListKeys", "application/json"},
			{"/", "", awsjson.ContentType},
			{"/", "TrentService.NoSuchThing", awsjson.ContentType},
			{"/", "BaldrApiService.DescribeClusters", awsjson.ContentType},
		} {
			status, out := post(k.url+c.path, c.target, `{}`, "Content-Type", c.contentType)
			Expect(status).To(Equal(http.StatusBadRequest), "%+v", c)
			Expect(out).To(HaveKeyWithValue("__type", "UnknownOperationException"), "%+v", c)
		}
		Expect(k.list).To(BeEmpty())
		status, _ := post(k.url+"/", "TrentService.ListKeys", `{}`, "Content-Type", awsjson.ContentType+"; charset=utf-8")
		Expect(status).To(Equal(http.StatusOK))
	})

	It("answers a modelled operation it does not implement with the service's unsupported type", func() {
		status, out := post(k.url+"/", "TrentService.GetKeyPolicy", `{"KeyId":"k"}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(out).To(HaveKeyWithValue("__type", "UnsupportedOperationException"))
	})

	It("answers a body over 1 MiB with 413 RequestEntityTooLargeException", func() {
		status, out := post(k.url+"/", "TrentService.ListKeys", `{"Marker":"`+strings.Repeat("a", awsjson.MaxBodyBytes)+`"}`)
		Expect(status).To(Equal(http.StatusRequestEntityTooLarge))
		Expect(out).To(HaveKeyWithValue("__type", "RequestEntityTooLargeException"))
	})
})

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
