package scenarios_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/scenarios"
)

func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	RunSpecs(t, "scenarios")
}

// h is this test process's harness. Runs make their own clusters and
// stores in it and delete them (days of deletion windows are short).
var h *harness.Harness

var _ = testenv.HarnessPerProcess(&h, nil, harness.WithKMSOptions(kms.WithDayLength(10*time.Millisecond)))

// harnessTarget is the target of a run against a harness, through endpoint
// (the harness's own KMS endpoint when empty).
func harnessTarget(hh *harness.Harness, endpoint string) scenarios.Target {
	if endpoint == "" {
		endpoint = hh.KMSEndpoint()
	}
	return scenarios.Target{Endpoint: endpoint, Region: hh.Region(), Control: hh.ControlClient(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")}
}
