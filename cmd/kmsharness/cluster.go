package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

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
			url, err := resolveControl(control)
			if err != nil {
				return err
			}
			if hsms < 1 || hsms > 28 {
				return usageError{fmt.Errorf("--hsms must be 1 to 28")}
			}
			c, err := createCluster(cmd.Context(), url, hsms)
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
	raw, err := callControl(ctx, control+"/clusters", map[string]int{"hsms": hsms}, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	var c harness.ClusterResponse
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("harness control API: %w", err)
	}
	return &c, nil
}

// resolveControl returns the control API URL: the flag, else
// $KMSHARNESS_CONTROL; none is a usage error.
func resolveControl(flag string) (string, error) {
	if flag == "" {
		flag = os.Getenv("KMSHARNESS_CONTROL")
	}
	if flag == "" {
		return "", usageError{fmt.Errorf("no harness: set KMSHARNESS_CONTROL or --control (kmsharness up --print-env prints it)")}
	}
	return flag, nil
}
