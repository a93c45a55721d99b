package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/faults"
)

func newFaultCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "fault", Short: "Inject and heal faults in a running harness"}
	var cf controlFlags
	var cluster, hsm string
	var builtin bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the faults the harness serves (or, with --builtin, kmsharness's own catalogue)",
		Long: `list asks the harness named by --control (default: $KMSHARNESS_CONTROL) for its
fault catalogue. With --builtin it prints kmsharness's own catalogue without
asking any harness.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if builtin {
				var entries []control.Fault
				for _, e := range faults.Catalogue() {
					entries = append(entries, control.Fault{Name: e.Name, Code: e.Code, NeedsHSM: e.NeedsHSM, Description: e.Description})
				}
				return printFaults(cmd.OutOrStdout(), entries)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			entries, err := client.Faults(cmd.Context())
			if err != nil {
				return controlError(err)
			}
			return printFaults(cmd.OutOrStdout(), entries)
		},
	}
	list.Flags().BoolVar(&builtin, "builtin", false, "print the built-in catalogue without asking a harness")
	// request checks the command line and returns the fault request.
	request := func(args []string) (control.FaultRequest, error) {
		if cluster == "" {
			return control.FaultRequest{}, usageError{fmt.Errorf("--cluster is required (kmsharness cluster describe ID lists HSMs)")}
		}
		if hsm == "" && builtinNeedsHSM(args[0]) {
			return control.FaultRequest{}, usageError{fmt.Errorf("%s acts on one HSM: give --hsm ID (kmsharness cluster describe %s lists the cluster's HSMs)", args[0], cluster)}
		}
		return control.FaultRequest{Name: args[0], Cluster: cluster, HSM: hsm}, nil
	}
	inject := &cobra.Command{
		Use: "inject NAME --cluster ID [--hsm ID]", Short: "Put a fault in place", Args: exactArgs(1, "NAME: a fault of kmsharness fault list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := request(args)
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			if err := client.InjectFault(cmd.Context(), req); err != nil {
				return controlError(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "injected %s on %s\n", req.Name, req.Cluster)
			return nil
		},
	}
	heal := &cobra.Command{
		Use: "heal NAME --cluster ID [--hsm ID]", Short: "Heal a fault; print what changed as export lines", Args: exactArgs(1, "NAME: a fault in place"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := request(args)
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			report, err := client.HealFault(cmd.Context(), req)
			if err != nil {
				return controlError(err)
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
		cf.register(c)
	}
	for _, c := range []*cobra.Command{inject, heal} {
		c.Flags().StringVar(&cluster, "cluster", "", "the cluster the fault acts on")
		c.Flags().StringVar(&hsm, "hsm", "", "the HSM, for HSM faults (network faults: one HSM instead of all)")
	}
	cmd.AddCommand(list, inject, heal)
	return cmd
}

// printFaults prints a fault catalogue as a table.
func printFaults(w io.Writer, entries []control.Fault) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCODE\tSCOPE\tWHAT IT DOES")
	for _, e := range entries {
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
}

// builtinNeedsHSM says whether name is a fault of kmsharness's own
// catalogue that acts on one HSM (other targets' catalogues are checked by
// the target itself).
func builtinNeedsHSM(name string) bool {
	for _, e := range faults.Catalogue() {
		if e.Name == name {
			return e.NeedsHSM
		}
	}
	return false
}
