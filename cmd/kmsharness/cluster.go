package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/harness"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Manage clusters of a running harness"}
	var hsms int
	var printEnv bool
	var control string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a ready cluster (ACTIVE, kmsuser created) in the running harness",
		Long: `create asks the harness named by --control (default: $KMSHARNESS_CONTROL) for a new
cluster with --hsms HSMs and prints its ID, or with --print-env the export lines
CLUSTER_ID, TRUST_ANCHOR_FILE and KMSUSER_PASSWORD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if control == "" {
				control = os.Getenv("KMSHARNESS_CONTROL")
			}
			if control == "" {
				return usageError{fmt.Errorf("no harness: set KMSHARNESS_CONTROL or --control (kmsharness up --print-env prints it)")}
			}
			if hsms < 1 || hsms > 28 {
				return usageError{fmt.Errorf("--hsms must be 1 to 28")}
			}
			c, err := createCluster(cmd.Context(), control, hsms)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !printEnv {
				fmt.Fprintln(out, c.ClusterID)
				return nil
			}
			printExports(out, [][2]string{
				{"CLUSTER_ID", c.ClusterID},
				{"TRUST_ANCHOR_FILE", c.TrustAnchorFile},
				{"KMSUSER_PASSWORD", c.KMSUserPassword},
			})
			return nil
		},
	}
	create.Flags().IntVar(&hsms, "hsms", 2, "HSMs in the cluster")
	create.Flags().BoolVar(&printEnv, "print-env", false, `print "export NAME=value" lines`)
	create.Flags().StringVar(&control, "control", "", "harness control API URL (default $KMSHARNESS_CONTROL)")
	cmd.AddCommand(create)
	return cmd
}

func createCluster(ctx context.Context, control string, hsms int) (*harness.ClusterResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	body, _ := json.Marshal(map[string]int{"hsms": hsms})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, control+"/clusters", bytes.NewReader(body))
	if err != nil {
		return nil, usageError{fmt.Errorf("--control: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness control API: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("harness control API: %s: %s", resp.Status, e.Error)
	}
	var c harness.ClusterResponse
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("harness control API: %w", err)
	}
	return &c, nil
}
