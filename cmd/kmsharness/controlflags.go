package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/control"
)

// controlFlags are the flags of commands that talk to a harness's control
// API: its URL and bearer token, from the environment by default.
type controlFlags struct {
	url, token string
}

func (f *controlFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "control", "", "control API URL (default $"+control.EnvURL+")")
	cmd.Flags().StringVar(&f.token, "control-token", "", "control API bearer token (default $"+control.EnvToken+")")
}

// client returns a client of the control API the flags or the environment
// name; none is a usage error.
func (f *controlFlags) client() (*control.Client, error) {
	url, token := f.url, f.token
	if url == "" {
		url = os.Getenv(control.EnvURL)
	}
	if token == "" {
		token = os.Getenv(control.EnvToken)
	}
	if url == "" {
		return nil, usageError{fmt.Errorf("no harness: set %s or --control (kmsharness up --print-env prints it)", control.EnvURL)}
	}
	if token == "" {
		return nil, usageError{fmt.Errorf("no control token: set %s or --control-token (kmsharness up --print-env prints it)", control.EnvToken)}
	}
	c, err := control.NewClient(url, token, nil)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// controlError turns an answer of the control API into the command's
// error: the caller's mistakes (unknown fault, cluster or HSM, a fault
// already in place, a bad token) exit with status 2.
func controlError(err error) error {
	var se *control.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		return usageError{errors.New(se.Message)}
	}
	return err
}
