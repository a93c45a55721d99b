package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/atomicfile"
	"github.com/kmsharness/kmsharness/kms"
)

type upFlags struct {
	printEnv         bool
	hsms             int
	backend          string
	region           string
	lockoutThreshold int
	logLevel         string
	dataDir          string
	deletionDay      time.Duration
	connectDelay     time.Duration
	controlToken     string
	pauseAt          string
	auth             string
	accessKeys       []string
}

func newUpCommand() *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the emulated CloudHSM control plane and a ready cluster; run until interrupted",
		Long: `up starts the CloudHSMv2 control plane and a cluster that is ACTIVE, initialised,
activated, with kmsuser created and --hsms HSMs spread over the availability
zones. With --print-env it prints "export NAME=value" lines once ready. It runs
until SIGINT or SIGTERM, then stops every HSM node and removes its files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.hsms < 1 {
				return usageError{fmt.Errorf("--hsms must be at least 1")}
			}
			if b := harness.Backend(f.backend); b != harness.BackendProcess && b != harness.BackendContainer {
				return usageError{fmt.Errorf("--backend %q: use %q or %q", f.backend, harness.BackendProcess, harness.BackendContainer)}
			}
			if f.auth != string(harness.AuthSigV4) && f.auth != string(harness.AuthNone) {
				return usageError{fmt.Errorf("--auth must be sigv4 or none, not %q", f.auth)}
			}
			for _, pair := range f.accessKeys {
				if id, secret, ok := strings.Cut(pair, ":"); !ok || id == "" || secret == "" {
					return usageError{fmt.Errorf("--access-key wants ACCESS_KEY_ID:SECRET_ACCESS_KEY")}
				}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			return runUp(cmd.Context(), f, level, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&f.printEnv, "print-env", false, `print "export NAME=value" lines once ready`)
	cmd.Flags().IntVar(&f.hsms, "hsms", 2, "HSMs in the cluster")
	cmd.Flags().StringVar(&f.backend, "backend", string(harness.BackendProcess), "where HSM nodes run: process or container (make image first)")
	cmd.Flags().StringVar(&f.region, "region", "us-east-1", "AWS region to emulate")
	cmd.Flags().IntVar(&f.lockoutThreshold, "lockout-threshold", 5, "consecutive failed logins that lock an HSM user")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	cmd.Flags().DurationVar(&f.deletionDay, "deletion-day", 24*time.Hour, "how long a day of a key's deletion window lasts (conformance runs want it short, e.g. 25ms)")
	cmd.Flags().DurationVar(&f.connectDelay, "connect-delay", kms.DefaultConnectDelay, "how long a custom key store stays CONNECTING")
	cmd.Flags().StringVar(&f.controlToken, "control-token", "", "bearer token of the control API (default: a random one, printed as KMSHARNESS_CONTROL_TOKEN)")
	cmd.Flags().StringVar(&f.auth, "auth", string(harness.AuthSigV4), "how the KMS and CloudHSMv2 endpoints authenticate requests: sigv4 (AWS Signature Version 4 with the printed credentials) or none")
	cmd.Flags().StringArrayVar(&f.accessKeys, "access-key", nil, "another ACCESS_KEY_ID:SECRET_ACCESS_KEY pair the endpoints accept (repeatable)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "keep all state here and resume it on the next start (default: a temporary directory, removed at exit)")
	// A failpoint for crash tests: the process stops at a step of the KMS
	// front end (kms.Step, with #N for its Nth time) and says so on stderr,
	// so that a test can kill it at that instant.
	cmd.Flags().StringVar(&f.pauseAt, "pause-at", "", "pause at this KMS step (STEP or STEP#N) and say so on stderr; for crash tests")
	_ = cmd.Flags().MarkHidden("pause-at")
	return cmd
}

func runUp(parent context.Context, f upFlags, level slog.Level, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	started := time.Now()
	kmsOpts := []kms.Option{kms.WithDayLength(f.deletionDay), kms.WithConnectDelay(f.connectDelay)}
	if f.pauseAt != "" {
		hook, err := pauseHook(f.pauseAt, stderr)
		if err != nil {
			return usageError{err}
		}
		kmsOpts = append(kmsOpts, kms.WithStepHook(hook))
	}
	opts := []harness.Option{harness.WithBackend(harness.Backend(f.backend)), harness.WithRegion(f.region),
		harness.WithLockoutThreshold(f.lockoutThreshold), harness.WithLogger(log), harness.WithKMSOptions(kmsOpts...),
		harness.WithControlToken(f.controlToken), harness.WithAuth(harness.Auth(f.auth))}
	for _, pair := range f.accessKeys {
		id, secret, _ := strings.Cut(pair, ":")
		opts = append(opts, harness.WithAccessKey(id, secret))
	}
	if f.dataDir != "" {
		opts = append(opts, harness.WithDataDir(f.dataDir))
	}
	h, err := harness.Start(ctx, opts...)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if cerr := h.Close(closeCtx); cerr != nil {
			log.Error("shutdown", "err", cerr)
		}
	}()
	if err != nil {
		return err
	}
	cluster, err := upCluster(ctx, h, f)
	if err != nil {
		return err
	}
	log.Info("ready", "cluster", cluster.ClusterID, "kms", h.KMSEndpoint(), "cloudhsm", h.CloudHSMEndpoint(),
		"control", h.ControlEndpoint(), "took", time.Since(started).Round(time.Millisecond))
	if f.printEnv {
		printExports(stdout, [][2]string{
			{"KMS_ENDPOINT", h.KMSEndpoint()},
			{"CLOUDHSM_ENDPOINT", h.CloudHSMEndpoint()},
			{"KMSHARNESS_CONTROL", h.ControlEndpoint()},
			{"KMSHARNESS_CONTROL_TOKEN", h.ControlToken()},
			{"CLUSTER_ID", cluster.ClusterID},
			{"TRUST_ANCHOR_FILE", cluster.TrustAnchorFile},
			{"KMSUSER_PASSWORD", cluster.KMSUserPassword},
			{"AWS_REGION", h.Region()},
			// The aws CLI v1 reads only AWS_DEFAULT_REGION.
			{"AWS_DEFAULT_REGION", h.Region()},
			{"AWS_ACCESS_KEY_ID", harness.AccessKeyID},
			{"AWS_SECRET_ACCESS_KEY", harness.SecretAccessKey},
		})
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// upCluster returns the cluster up made on an earlier start with the same
// --data-dir, if it is still ACTIVE, or makes a new one (and remembers it).
func upCluster(ctx context.Context, h *harness.Harness, f upFlags) (*control.Cluster, error) {
	remembered := filepath.Join(h.Dir(), "up-cluster.json")
	if f.dataDir != "" {
		if data, err := os.ReadFile(remembered); err == nil {
			var c control.Cluster
			if json.Unmarshal(data, &c) == nil {
				if info, err := h.ControlPlane().Cluster(c.ClusterID); err == nil && info.State == cloudhsm.ClusterActive {
					return &c, nil
				}
			}
		}
	}
	cluster, err := h.NewCluster(ctx, harness.WithHSMs(f.hsms))
	if err != nil {
		return nil, err
	}
	c := &control.Cluster{ClusterID: cluster.ID, TrustAnchorPEM: string(cluster.TrustAnchorPEM),
		TrustAnchorFile: cluster.TrustAnchorFile, KMSUserPassword: cluster.KMSUserPassword}
	if f.dataDir != "" {
		data, _ := json.Marshal(c)
		if err := atomicfile.Write(remembered, data); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// printExports prints "export NAME=value" lines, quoted for a POSIX shell.
func printExports(w io.Writer, vars [][2]string) {
	for _, kv := range vars {
		fmt.Fprintf(w, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '/' || r == ':') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// pauseHook returns a step hook that stops at the step spec names ("STEP",
// or "STEP#N" for its Nth time) until the run ends, after printing
// "paused at STEP#N" on w.
func pauseHook(spec string, w io.Writer) (func(context.Context, kms.Step, string), error) {
	name, nth, found := strings.Cut(spec, "#")
	want := 1
	if found {
		n, err := strconv.Atoi(nth)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--pause-at %q: the count after # must be a positive number", spec)
		}
		want = n
	}
	var mu sync.Mutex
	seen := 0
	return func(ctx context.Context, step kms.Step, store string) {
		if string(step) != name {
			return
		}
		mu.Lock()
		seen++
		hit := seen == want
		mu.Unlock()
		if !hit {
			return
		}
		fmt.Fprintf(w, "paused at %s#%d (store %s)\n", name, want, store)
		<-ctx.Done()
	}, nil
}
