package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/suites"
)

// clusterFlags collects repeated --cluster ID,TRUST_ANCHOR_FILE,PASSWORD.
type clusterFlags []suites.Cluster

func (c *clusterFlags) String() string { return fmt.Sprintf("%d clusters", len(*c)) }

func (c *clusterFlags) Set(v string) error {
	parts := strings.SplitN(v, ",", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return errors.New("want ID,TRUST_ANCHOR_FILE,PASSWORD")
	}
	anchor, err := os.ReadFile(parts[1])
	if err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	*c = append(*c, suites.Cluster{ID: parts[0], TrustAnchorPEM: string(anchor), KMSUserPassword: parts[2]})
	return nil
}

// failures records whether any spec failed (Ginkgo's testing.T stand-in).
type failures struct{ failed bool }

func (f *failures) Fail() { f.failed = true }

func newConformanceCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "conformance --endpoint URL [flags] [--ginkgo.* flags]",
		Short: "Run the conformance suites against any KMS endpoint",
		Long: `conformance runs the kmsharness suites (the same code as make test) against the KMS
endpoint with the AWS SDK for Go v2. Credentials come from the usual AWS environment.
Clusters come from --cluster (repeatable) or, with --control, from the harness
control API, which also enables the fault specs; specs needing what the target
lacks skip with the reason. Ginkgo's flags work (--ginkgo.label-filter,
--ginkgo.focus, --ginkgo.v). It exits 0 only when nothing failed.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConformance(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Ginkgo binds its flags to flag.CommandLine; ours join them there.
	fs := flag.CommandLine
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "KMS endpoint URL (required)")
	region := fs.String("region", "", "AWS region (default: from the AWS environment, else us-east-1)")
	controlURL := fs.String("control", "", "fault control API URL (a harness's KMSHARNESS_CONTROL)")
	controlToken := fs.String("control-token", "", "fault control API bearer token (default $KMSHARNESS_CONTROL_TOKEN)")
	junit := fs.String("junit-report", "", "write a JUnit XML report to this file")
	report := fs.String("report", "", "write a report for people to this file (.md or .html)")
	quota := fs.Int("store-quota", 10, "the target's custom key store quota")
	var clusters clusterFlags
	fs.Var(&clusters, "cluster", "a cluster to use, as ID,TRUST_ANCHOR_FILE,PASSWORD (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if *endpoint == "" {
		return usageError{errors.New("--endpoint is required")}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS environment: %w", err)
	}
	if *region == "" {
		*region = awsCfg.Region
	}
	if *region == "" {
		*region = "us-east-1"
	}
	cfg := suites.Config{Endpoint: *endpoint, Region: *region, Credentials: awsCfg.Credentials, Clusters: clusters,
		StoreQuota: *quota}
	if *controlURL != "" {
		cf := controlFlags{url: *controlURL, token: *controlToken}
		if cfg.Control, err = cf.client(); err != nil {
			return err
		}
	}
	suites.Register(&cfg)
	ginkgo.ReportAfterSuite("conformance reports", func(r types.Report) {
		if *junit != "" {
			if err := reporters.GenerateJUnitReport(r, *junit); err != nil {
				fmt.Fprintln(stderr, "kmsharness: junit report:", err)
			}
		}
		if *report != "" {
			if err := suites.WriteReport(r, suites.RunInfo{Endpoint: *endpoint}, *report); err != nil {
				fmt.Fprintln(stderr, "kmsharness: report:", err)
			}
		}
	})
	gomega.RegisterFailHandler(ginkgo.Fail)
	var f failures
	if !ginkgo.RunSpecs(&f, "KMS custom key store conformance: "+*endpoint) || f.failed {
		return errConformance
	}
	return nil
}

// errConformance means a spec failed (exit status 1, after Ginkgo's report).
var errConformance = errors.New("the target does not conform (see the failures above)")
