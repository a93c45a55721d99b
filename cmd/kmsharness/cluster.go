package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Create, describe and delete clusters of a running harness"}
	var cf controlFlags
	var hsms int
	var printEnv bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a ready cluster (ACTIVE, kmsuser created) in the running harness",
		Long: `create asks the harness named by --control (default: $KMSHARNESS_CONTROL) for a new
cluster with --hsms HSMs and prints its ID, or with --print-env the export lines
CLUSTER_ID, TRUST_ANCHOR_FILE and KMSUSER_PASSWORD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if hsms < 1 || hsms > 28 {
				return usageError{fmt.Errorf("--hsms must be 1 to 28")}
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			c, err := client.NewCluster(cmd.Context(), hsms)
			if err != nil {
				return controlError(err)
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
	describe := &cobra.Command{
		Use:   "describe CLUSTER_ID",
		Short: "Show a cluster's state and its HSMs (the IDs that --hsm faults take)",
		Args:  exactArgs(1, "CLUSTER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			info, err := client.Cluster(cmd.Context(), args[0])
			if err != nil {
				return controlError(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\t%s\n", info.ClusterID, info.State)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HSM\tZONE\tSTATE")
			for _, h := range info.HSMs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", h.HSMID, h.AvailabilityZone, h.State)
			}
			return tw.Flush()
		},
	}
	remove := &cobra.Command{
		Use:   "delete CLUSTER_ID",
		Short: "Delete a cluster: its HSMs stop and its subnets are freed",
		Args:  exactArgs(1, "CLUSTER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			if err := client.DeleteCluster(cmd.Context(), args[0]); err != nil {
				return controlError(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted %s\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, describe, remove} {
		cf.register(c)
	}
	cmd.AddCommand(create, describe, remove)
	return cmd
}

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("usage: %s (%s %s)", cmd.UseLine(), cmd.CommandPath(), names)}
		}
		return nil
	}
}
