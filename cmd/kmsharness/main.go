// Command kmsharness runs the KMS custom key store test harness.
//
//	kmsharness up --print-env              start the harness with a ready 2-HSM cluster
//	kmsharness cluster create --print-env  add a ready cluster to the running harness
//	kmsharness fault list|inject|heal      drive the fault catalogue of the running harness
//	kmsharness conformance --endpoint URL  run the conformance suites against any KMS endpoint
//	kmsharness bench --endpoint URL --op encrypt  measure any KMS endpoint under load
//	kmsharness chaos list|run|check        run chaos scenarios and check their histories
//	kmsharness version                     print the version this binary was built from
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "kmsharness",
		Short:         "Test fixture and fault-injection harness for the AWS KMS custom key store API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newUpCommand(), newClusterCommand(), newFaultCommand(), newConformanceCommand(), newBenchCommand(), newChaosCommand(),
		newVersionCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kmsharness:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks an error in the command line (exit status 2).
type usageError struct{ error }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	// Cobra's own command-line errors.
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "unknown ") {
		return 2
	}
	return 1
}
