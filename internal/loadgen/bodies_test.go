package loadgen_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/loadgen"
)

// plaintextSize is KMS's largest plaintext: its Encrypt request (about
// 5.5 KB of JSON) and answer do not fit in net/http's 4 KiB buffers.
const plaintextSize = 4096

// Bodies larger than the transport's write buffer: the SDK closes a
// request body as soon as the answer's header is in, which must neither
// fail the call nor cost the connection.
var _ = Describe("the bench's SDK client with bodies larger than 4 KiB", func() {
	BeforeEach(func() {
		GinkgoT().Setenv("AWS_ACCESS_KEY_ID", harness.AccessKeyID)
		GinkgoT().Setenv("AWS_SECRET_ACCESS_KEY", harness.SecretAccessKey)
		GinkgoT().Setenv("AWS_SESSION_TOKEN", "")
		GinkgoT().Setenv("AWS_CONFIG_FILE", "/dev/null")
		GinkgoT().Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	})

	It("fails no Encrypt of a 4 KiB plaintext under continuous load", func(ctx SpecContext) {
		client, err := loadgen.NewClient(ctx, h.KMSEndpoint(), h.Region(), 1)
		Expect(err).NotTo(HaveOccurred())
		prepared, err := loadgen.Prepare(ctx, client, loadgen.Workload{Op: loadgen.OpEncrypt, Size: plaintextSize})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(prepared.Cleanup)
		writes := &writeErrors{}
		res, err := loadgen.Run(writes.trace(ctx), loadgen.Config{Clients: 1, Count: 1500}, prepared.Op)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Errors).To(BeZero(), "%d of %d calls failed: %v", res.Errors, res.Ops, res.ByCode)
		Expect(writes.count.Load()).To(BeZero(), "requests whose writing failed, e.g. %v", writes.sample.Load())
	}, SpecTimeout(3*time.Minute))

	// A client connection that pauses after each write holds net/http's
	// request writer back after the body has left, so that the answer's
	// header — and the SDK's close of the body — always come first: the
	// order that only some calls of a busy machine see. Then net/http must
	// still finish writing the request without an error (an error closes
	// the connection under the answer being read).
	It("finishes writing a request whose answer arrived first", func(ctx SpecContext) {
		client, err := loadgen.NewClientTuned(ctx, h.KMSEndpoint(), h.Region(), 1, func(t *http.Transport) {
			dial := t.DialContext
			t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return pausingConn{Conn: c, pause: 10 * time.Millisecond}, nil
			}
		})
		Expect(err).NotTo(HaveOccurred())
		key := newKey(ctx, client)
		plaintext := make([]byte, plaintextSize)
		_, _ = rand.Read(plaintext)
		writes := &writeErrors{}
		const calls = 20
		failed := 0
		for range calls {
			if _, err := client.Encrypt(writes.trace(ctx), &kms.EncryptInput{KeyId: aws.String(key), Plaintext: plaintext}); err != nil {
				failed++
				GinkgoWriter.Println("a call failed:", err)
			}
		}
		Expect(writes.count.Load()).To(BeZero(), "requests of %d that failed to be written, e.g. %v", calls, writes.sample.Load())
		Expect(failed).To(BeZero(), "calls failed")
	}, SpecTimeout(time.Minute))

	// The front end's side, without the SDK: a client that sends the same
	// requests with net/http alone sees every answer in full.
	It("meets a front end that answers every such request in full", func(ctx SpecContext) {
		client, err := loadgen.NewClient(ctx, h.KMSEndpoint(), h.Region(), 1)
		Expect(err).NotTo(HaveOccurred())
		key := newKey(ctx, client)
		plaintext := make([]byte, plaintextSize)
		_, _ = rand.Read(plaintext)
		body, err := json.Marshal(map[string]string{"KeyId": key, "Plaintext": base64.StdEncoding.EncodeToString(plaintext)})
		Expect(err).NotTo(HaveOccurred())
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: harness.AccessKeyID, SecretAccessKey: harness.SecretAccessKey}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		DeferCleanup(transport.CloseIdleConnections)
		raw := &http.Client{Transport: transport}
		writes := &writeErrors{}
		const calls = 500
		for i := range calls {
			req, err := http.NewRequestWithContext(writes.trace(ctx), http.MethodPost, h.KMSEndpoint()+"/", bytes.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
			Expect(v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", h.Region(), time.Now())).To(Succeed())
			resp, err := raw.Do(req)
			Expect(err).NotTo(HaveOccurred(), "call %d", i)
			answer, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			Expect(err).NotTo(HaveOccurred(), "call %d", i)
			Expect(resp.StatusCode).To(Equal(http.StatusOK), "call %d: %s", i, answer)
		}
		Expect(writes.count.Load()).To(BeZero(), "requests that failed to be written, e.g. %v", writes.sample.Load())
	}, SpecTimeout(2*time.Minute))
})

// newKey creates a KMS key for a spec and schedules its deletion after it.
func newKey(ctx context.Context, client *kms.Client) string {
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	Expect(err).NotTo(HaveOccurred())
	id := aws.ToString(out.KeyMetadata.KeyId)
	DeferCleanup(func(ctx SpecContext) {
		_, err := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
		Expect(err).NotTo(HaveOccurred())
	})
	return id
}

// writeErrors counts the requests net/http failed to write.
type writeErrors struct {
	count  atomic.Int32
	sample atomic.Value
}

// trace returns ctx with a client trace that counts failed request writes.
func (w *writeErrors) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err != nil {
			w.count.Add(1)
			w.sample.Store(info.Err)
		}
	}})
}

// pausingConn pauses after each write it has passed on.
type pausingConn struct {
	net.Conn
	pause time.Duration
}

func (c pausingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	// The pause is the mechanism under test (the request writer held back
	// after the body left), not a wait for a state.
	time.Sleep(c.pause)
	return n, err
}
