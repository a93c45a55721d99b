package sdkhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsharness/kmsharness/internal/sdkhttp"
)

// serverIdle is the test server's idle timeout; calls are spaced by as much,
// so that each may pick a kept-alive connection the server is closing.
const serverIdle = 3 * time.Millisecond

// failedCalls makes n ListKeys calls with one attempt each through client,
// spaced by the server's idle timeout, and returns how many failed and one
// of the errors.
func failedCalls(client *http.Client, n int) (int, error) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"Keys":[],"Truncated":false}`))
	}))
	srv.Config.IdleTimeout = serverIdle
	srv.Start()
	defer srv.Close()
	k := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: client, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE000000000", "secret", "")})
	failed := 0
	var sample error
	for range n {
		if _, err := k.ListKeys(context.Background(), &kms.ListKeysInput{Limit: aws.Int32(1)}); err != nil {
			failed++
			sample = err
		}
		// The gap is the mechanism under test (an idle connection as old
		// as the server's idle timeout), not a wait for a state.
		time.Sleep(serverIdle)
	}
	return failed, sample
}

// The SDK with Go's default transport, one attempt per call, against a
// server whose idle timeout the calls' spacing matches, fails some calls
// on connections the server closed; the client of this package fails none.
func TestNoCallFailsOnAConnectionTheServerClosed(t *testing.T) {
	const calls = 200
	plain, err := failedCalls(&http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, calls)
	t.Logf("default transport: %d of %d calls failed (%v)", plain, calls, err)
	// The client's idle timeout is under the server's, as NewClient's 20 s
	// is under the idle timeouts servers commonly use.
	fixed, err := failedCalls(sdkhttp.NewClientWithIdle(serverIdle/3), calls)
	if fixed != 0 {
		t.Errorf("%d of %d calls failed through the sdkhttp client, e.g. %v", fixed, calls, err)
	}
}
