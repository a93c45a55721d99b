package kms_test

import (
	"context"
	"crypto/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/sdkhttp"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// benchHarness starts a harness for a benchmark (hsmnode built once).
func benchHarness(b *testing.B) *harness.Harness {
	b.Helper()
	if _, err := testenv.BuildHSMNode(testenv.BinDir("bench")); err != nil {
		b.Fatal(err)
	}
	hh, err := harness.Start(context.Background())
	b.Cleanup(func() { _ = hh.Close(context.Background()) })
	if err != nil {
		b.Fatal(err)
	}
	return hh
}

func benchClient(hh *harness.Harness) *kms.Client {
	return kms.New(kms.Options{Region: hh.Region(), BaseEndpoint: aws.String(hh.KMSEndpoint()), HTTPClient: sdkhttp.NewClient(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
}

// BenchmarkEncrypt4KiB compares Encrypt of 4 KiB with a CloudHSM key, from
// 8 concurrent SDK clients through the front end and a node to SoftHSM,
// with AES-GCM through PKCS#11 called directly in this process.
//
//	go test ./kms -run '^$' -bench Encrypt4KiB -benchtime 3s
func BenchmarkEncrypt4KiB(b *testing.B) {
	plaintext := make([]byte, 4096)
	_, _ = rand.Read(plaintext)

	b.Run("direct-pkcs11", func(b *testing.B) {
		tok, cleanup, err := testenv.DirectToken()
		if err != nil {
			b.Fatal(err)
		}
		defer cleanup()
		b.SetBytes(4096)
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := tok.Encrypt("bench", plaintext, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("sdk-8-clients", func(b *testing.B) {
		hh := benchHarness(b)
		ctx := context.Background()
		cl, err := hh.NewCluster(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c := benchClient(hh)
		st, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("bench"), CloudHsmClusterId: aws.String(cl.ID),
			TrustAnchorCertificate: aws.String(string(cl.TrustAnchorPEM)), KeyStorePassword: aws.String(cl.KMSUserPassword)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: st.CustomKeyStoreId}); err != nil {
			b.Fatal(err)
		}
		var keyID *string
		for deadline := time.Now().Add(30 * time.Second); keyID == nil && time.Now().Before(deadline); {
			k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: st.CustomKeyStoreId})
			if err == nil {
				keyID = k.KeyMetadata.KeyId
			}
		}
		if keyID == nil {
			b.Fatal("the store did not connect")
		}
		b.SetBytes(4096)
		b.SetParallelism(4) // 8 goroutines on this 2-CPU machine
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			client := benchClient(hh) // one SDK client per goroutine
			for pb.Next() {
				if _, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: plaintext}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkListKeysPage1000 lists 20,000 keys in pages of 1,000 and reports
// the per-page latency percentiles (p50-ms, p99-ms, max-ms). The client
// sends through sdkhttp: with the SDK's default HTTP client, smithy-go's
// early close of request bodies fails some reused connections, and the
// SDK's retries after a backoff showed as pages of 0.3 to 1.8 s.
//
//	go test ./kms -run '^$' -bench ListKeysPage1000 -benchtime 200x
func BenchmarkListKeysPage1000(b *testing.B) {
	hh := benchHarness(b)
	ctx := context.Background()
	c := benchClient(hh)
	const keys = 20000
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < keys; i += 8 {
				if _, err := c.CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var latencies []time.Duration
	var marker *string
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out, err := c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1000), Marker: marker})
		latencies = append(latencies, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Keys) != 1000 {
			b.Fatalf("page of %d keys", len(out.Keys))
		}
		marker = out.NextMarker
		if !out.Truncated {
			marker = nil
		}
	}
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}
