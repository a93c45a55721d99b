package suites

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsharness/kmsharness/internal/sdkhttp"
)

// preflightTimeout bounds each check of Preflight.
const preflightTimeout = 10 * time.Second

// LoadAWSConfig loads the AWS configuration from the environment (and the
// shared config files) as the SDK does, with the EC2 instance metadata
// client off: a machine without credentials must say so at once, not ask
// the metadata address and wait. The suites' own clients take only its
// region and credentials.
func LoadAWSConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
	}, opts...)...)
}

// PreflightError is what Preflight found wrong: one line a person can act
// on.
type PreflightError struct {
	// Check names what failed: "credentials", "endpoint", "control" or
	// "clusters".
	Check string
	Err   error
}

func (e *PreflightError) Error() string { return "preflight: " + e.Check + ": " + e.Err.Error() }

func (e *PreflightError) Unwrap() error { return e.Err }

// Preflight checks, before any spec, that a run can say something about
// the target: credentials are present, the KMS endpoint answers and accepts
// them, the control API (if any) answers, and — when a CloudHSMv2 endpoint
// is given — the given clusters exist and are ACTIVE. It returns the first
// problem as a *PreflightError, one line.
func Preflight(ctx context.Context, cfg Config) error {
	if cfg.Credentials == nil {
		return &PreflightError{"credentials", errors.New("none given (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)")}
	}
	cctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	creds, err := cfg.Credentials.Retrieve(cctx)
	cancel()
	if err != nil || creds.AccessKeyID == "" {
		if err == nil {
			err = errors.New("empty access key ID")
		}
		return &PreflightError{"credentials", fmt.Errorf("none found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile): %s", oneLine(err))}
	}
	if cfg.Endpoint == "" {
		return &PreflightError{"endpoint", errors.New("no KMS endpoint given")}
	}
	client := kms.New(kms.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.Endpoint), Credentials: cfg.Credentials,
		HTTPClient: sdkhttp.NewClient(), RetryMaxAttempts: 1})
	cctx, cancel = context.WithTimeout(ctx, preflightTimeout)
	_, err = client.ListKeys(cctx, &kms.ListKeysInput{Limit: aws.Int32(1)})
	cancel()
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return &PreflightError{"endpoint", fmt.Errorf("%s answers ListKeys with %s: %s", cfg.Endpoint, ae.ErrorCode(), ae.ErrorMessage())}
	case err != nil:
		return &PreflightError{"endpoint", fmt.Errorf("%s does not answer: %s", cfg.Endpoint, oneLine(err))}
	}
	if cfg.Control != nil {
		cctx, cancel = context.WithTimeout(ctx, preflightTimeout)
		_, err := cfg.Control.Info(cctx)
		cancel()
		if err != nil {
			return &PreflightError{"control", fmt.Errorf("%s: %s", cfg.Control.URL(), oneLine(err))}
		}
	}
	return checkClusters(ctx, cfg)
}

// checkClusters checks on the CloudHSMv2 endpoint that the given clusters
// exist and are ACTIVE (nothing without an endpoint).
func checkClusters(ctx context.Context, cfg Config) error {
	if cfg.CloudHSMEndpoint == "" || len(cfg.Clusters) == 0 {
		return nil
	}
	ids := make([]string, 0, len(cfg.Clusters))
	for _, c := range cfg.Clusters {
		ids = append(ids, c.ID)
	}
	client := cloudhsmv2.New(cloudhsmv2.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.CloudHSMEndpoint), Credentials: cfg.Credentials,
		HTTPClient: sdkhttp.NewClient(), RetryMaxAttempts: 1})
	cctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	out, err := client.DescribeClusters(cctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": ids}})
	if err != nil {
		return &PreflightError{"clusters", fmt.Errorf("CloudHSMv2 endpoint %s: %s", cfg.CloudHSMEndpoint, oneLine(err))}
	}
	state := map[string]string{}
	for _, c := range out.Clusters {
		state[aws.ToString(c.ClusterId)] = string(c.State)
	}
	for _, id := range ids {
		switch s, ok := state[id]; {
		case !ok:
			return &PreflightError{"clusters", fmt.Errorf("cluster %s does not exist on %s", id, cfg.CloudHSMEndpoint)}
		case s != "ACTIVE":
			return &PreflightError{"clusters", fmt.Errorf("cluster %s is %s, not ACTIVE", id, s)}
		}
	}
	return nil
}

// oneLine keeps an error on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
