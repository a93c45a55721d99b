package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/internal/loadgen"
)

type benchFlags struct {
	endpoint, region string
	clients, count   int
	duration         time.Duration
	batch            int
	json             bool
	cluster          string
	trustAnchorFile  string
	workload         loadgen.Workload
}

func newBenchCommand() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Drive any KMS endpoint with concurrent requests; print ops/s, latency percentiles and errors",
		Long: `bench sends one KMS operation from -c concurrent workers, sharing one AWS SDK
for Go v2 client, for -d (or -n operations in all), and prints the throughput,
the p50/p90/p99/max latency and the errors by code. Credentials and region come
from the environment as the aws CLI reads them; the endpoint from --endpoint or
$KMS_ENDPOINT. The client does not retry, so every failure counts.

What the operation needs is set up unless given: encrypt, decrypt and
generate-data-key create a key (in --store if given) and schedule its deletion
afterwards; decrypt decrypts one ciphertext of --size bytes. --store ID uses a
custom key store (connecting it if DISCONNECTED); --store new creates one from
--cluster, --trust-anchor-file and $KMSUSER_PASSWORD (what kmsharness up
--print-env exports) and leaves it for reuse. generate-random draws from the
store's cluster when --store is given; create-key creates keys in it.

  kmsharness up --print-env > kmsharness.env &     # in one shell: wait for the file,
  . ./kmsharness.env                                # then read its exports
  kmsharness bench --op encrypt -c 8 -d 10s                  # AWS_KMS key
  kmsharness bench --op encrypt -c 8 -d 10s --store new      # CloudHSM key
  kmsharness bench --op create-key -c 8 -n 10000 --batch 1000 --store cks-...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "KMS endpoint URL (default $KMS_ENDPOINT)")
	fl.StringVar(&f.region, "region", "", "AWS region (default from the environment, like the aws CLI)")
	fl.StringVar(&f.workload.Op, "op", "", "operation: "+strings.Join(loadgen.Ops, "|"))
	fl.IntVarP(&f.clients, "clients", "c", 8, "concurrent workers")
	fl.DurationVarP(&f.duration, "duration", "d", 10*time.Second, "how long to run (0 with -n: until -n operations are done)")
	fl.IntVarP(&f.count, "count", "n", 0, "stop after this many operations in all")
	fl.IntVar(&f.workload.Size, "size", 0, "bytes of plaintext (encrypt, decrypt: default 4096), data key or random bytes (default 32)")
	fl.StringVar(&f.workload.KeyID, "key", "", "key ID, ARN or alias to use (default: create one)")
	fl.StringVar(&f.workload.StoreID, "store", "", `custom key store ID, or "new" to create one`)
	fl.StringVar(&f.cluster, "cluster", "", "CloudHSM cluster of a new store (default $CLUSTER_ID)")
	fl.StringVar(&f.trustAnchorFile, "trust-anchor-file", "", "trust anchor of the cluster of a new store (default $TRUST_ANCHOR_FILE)")
	fl.IntVar(&f.batch, "batch", 0, "also print the rate of every successive batch of this many operations")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("op")
	return cmd
}

func runBench(cmd *cobra.Command, f benchFlags) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.endpoint == "" {
		f.endpoint = os.Getenv("KMS_ENDPOINT")
	}
	if f.endpoint == "" {
		return usageError{fmt.Errorf("no endpoint: give --endpoint or set KMS_ENDPOINT")}
	}
	if f.clients < 1 || f.count < 0 || f.duration < 0 || f.batch < 0 {
		return usageError{fmt.Errorf("-c must be at least 1; -n, -d and --batch must not be negative")}
	}
	if !cmd.Flags().Changed("duration") && f.count > 0 {
		f.duration = 0 // -n alone runs to its count
	}
	if f.duration == 0 && f.count == 0 {
		return usageError{fmt.Errorf("give -d or -n")}
	}
	if f.workload.StoreID == loadgen.NewStore {
		ref, err := newStoreCluster(f)
		if err != nil {
			return err
		}
		f.workload.Cluster = ref
	}
	client, err := loadgen.NewClient(ctx, f.endpoint, f.region, f.clients)
	if err != nil {
		return err
	}
	prepared, err := loadgen.Prepare(ctx, client, f.workload)
	if err != nil {
		return usageOrRuntime(err)
	}
	stderr := cmd.ErrOrStderr()
	for _, line := range prepared.Setup {
		fmt.Fprintln(stderr, "bench:", line)
	}
	cfg := loadgen.Config{Clients: f.clients, Duration: f.duration, Count: f.count, BatchSize: f.batch}
	res, runErr := loadgen.Run(ctx, cfg, prepared.Op)
	cleanupCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prepared.Cleanup(cleanupCtx); err != nil {
		fmt.Fprintln(stderr, "bench: cleanup:", err)
	}
	if runErr != nil {
		return runErr
	}
	rep := loadgen.NewReport(f.workload, cfg, res)
	if f.json {
		return rep.WriteJSON(cmd.OutOrStdout())
	}
	return rep.WriteText(cmd.OutOrStdout())
}

// newStoreCluster reads what --store new needs from the flags and the
// variables kmsharness up --print-env exports.
func newStoreCluster(f benchFlags) (loadgen.ClusterRef, error) {
	ref := loadgen.ClusterRef{ID: f.cluster, KMSUserPassword: os.Getenv("KMSUSER_PASSWORD")}
	if ref.ID == "" {
		ref.ID = os.Getenv("CLUSTER_ID")
	}
	anchorFile := f.trustAnchorFile
	if anchorFile == "" {
		anchorFile = os.Getenv("TRUST_ANCHOR_FILE")
	}
	if ref.ID == "" || anchorFile == "" || ref.KMSUserPassword == "" {
		return ref, usageError{fmt.Errorf("--store new needs --cluster (or CLUSTER_ID), --trust-anchor-file (or TRUST_ANCHOR_FILE) and KMSUSER_PASSWORD")}
	}
	pem, err := os.ReadFile(anchorFile)
	if err != nil {
		return ref, fmt.Errorf("trust anchor: %w", err)
	}
	ref.TrustAnchorPEM = string(pem)
	return ref, nil
}

// usageOrRuntime marks a workload the command line got wrong as a usage
// error; failures of the endpoint stay runtime errors.
func usageOrRuntime(err error) error {
	if errors.Is(err, loadgen.ErrInvalidWorkload) {
		return usageError{err}
	}
	return err
}
