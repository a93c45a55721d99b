package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AWSJSONRequest builds a POST of body to url with the AWS JSON 1.1
// content type and X-Amz-Target target, signed with SigV4 for the service
// signingName in region at time at. An empty AccessKeyID leaves it unsigned.
func AWSJSONRequest(ctx context.Context, url, target string, body []byte, creds aws.Credentials, signingName, region string, at time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if creds.AccessKeyID == "" {
		return req, nil
	}
	sum := sha256.Sum256(body)
	return req, v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingName, region, at)
}
