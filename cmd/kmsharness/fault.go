package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/harness"
)

func newFaultCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "fault", Short: "Inject and heal faults in a running harness"}
	var control, cluster, hsm string
	list := &cobra.Command{
		Use: "list", Short: "List the fault catalogue", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCODE\tSCOPE\tWHAT IT DOES")
			for _, e := range faults.Catalogue() {
				scope := "cluster"
				if e.NeedsHSM {
					scope = "hsm"
				}
				code := e.Code
				if code == "" {
					code = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, code, scope, e.Description)
			}
			return tw.Flush()
		},
	}
	// send checks the command line and sends the fault request to path.
	send := func(ctx context.Context, args []string, path string, want int) (harness.FaultRequest, []byte, error) {
		if cluster == "" {
			return harness.FaultRequest{}, nil, usageError{fmt.Errorf("--cluster is required")}
		}
		if _, err := faults.Lookup(args[0], faults.Scope{ClusterID: cluster, HSMID: hsm}); err != nil {
			return harness.FaultRequest{}, nil, usageError{err}
		}
		url, err := resolveControl(control)
		if err != nil {
			return harness.FaultRequest{}, nil, err
		}
		req := harness.FaultRequest{Name: args[0], Cluster: cluster, HSM: hsm}
		body, err := callControl(ctx, url+path, req, want)
		return req, body, err
	}
	inject := &cobra.Command{
		Use: "inject NAME --cluster ID [--hsm ID]", Short: "Put a fault in place", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, _, err := send(cmd.Context(), args, "/faults", http.StatusCreated)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "injected %s on %s\n", req.Name, req.Cluster)
			return nil
		},
	}
	heal := &cobra.Command{
		Use: "heal NAME --cluster ID [--hsm ID]", Short: "Heal a fault; print what changed as export lines", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, body, err := send(cmd.Context(), args, "/faults/heal", http.StatusOK)
			if err != nil {
				return err
			}
			var report faults.Report
			if err := json.Unmarshal(body, &report); err != nil {
				return fmt.Errorf("harness control API: %w", err)
			}
			var exports [][2]string
			if report.KMSUserPassword != "" {
				exports = append(exports, [2]string{"KMSUSER_PASSWORD", report.KMSUserPassword})
			}
			if report.ClusterID != "" {
				exports = append(exports, [2]string{"CLUSTER_ID", report.ClusterID})
			}
			printExports(cmd.OutOrStdout(), exports)
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, inject, heal} {
		c.Flags().StringVar(&control, "control", "", "harness control API URL (default $KMSHARNESS_CONTROL)")
	}
	for _, c := range []*cobra.Command{inject, heal} {
		c.Flags().StringVar(&cluster, "cluster", "", "the cluster the fault acts on")
		c.Flags().StringVar(&hsm, "hsm", "", "the HSM, for HSM faults (network faults: one HSM instead of all)")
	}
	cmd.AddCommand(list, inject, heal)
	return cmd
}

// callControl POSTs req as JSON and returns the body of the expected
// answer; a 4xx answer is a usage error (exit 2: unknown fault or cluster).
func callControl(ctx context.Context, url string, req any, want int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, usageError{err}
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, fmt.Errorf("harness control API: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == want {
		return raw, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	err = fmt.Errorf("harness control API: %s: %s", resp.Status, e.Error)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return nil, usageError{err}
	}
	return nil, err
}
