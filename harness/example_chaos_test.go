package harness_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/scenarios"
)

// Run a built-in chaos scenario against a harness: clients call the KMS API
// while a seeded schedule crashes HSMs one after the other; the recorded
// history is then checked against the spec's model. The seed replays the
// same schedule.
func Example_chaosScenario() {
	ctx := context.Background()
	h, err := harness.Start(ctx)
	if err != nil {
		_ = h.Close(ctx)
		log.Fatal(err)
	}
	defer h.Close(ctx)
	scenario, err := scenarios.Load("rolling-hsm-restarts")
	if err != nil {
		log.Fatal(err)
	}
	target := scenarios.Target{
		Endpoint: h.KMSEndpoint(), Region: h.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, ""),
		Control:     h.ControlClient(),
	}
	result, err := scenarios.Run(ctx, target, scenario, scenarios.WithSeed(42), scenarios.WithDuration(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range result.Violations() {
		fmt.Println(v)
	}
	fmt.Println("every check holds:", result.Passed())
	// Output:
	// every check holds: true
}
