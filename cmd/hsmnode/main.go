// Command hsmnode is one emulated CloudHSM HSM: a SoftHSM2 token served over
// TLS with the hsmwire protocol. It runs as a child process of the harness or
// inside a container.
//
// On its first start the data directory must hold bootstrap.json, tls.key and
// tls.crt (node.PrepareDataDir writes them); later starts reopen the token.
// Once listening it prints one JSON line to standard output:
//
//	{"hsmId":"hsm-…","listen":"127.0.0.1:40123"}
//
// It shuts down cleanly on SIGTERM or SIGINT, and, with --exit-on-stdin-close,
// when its standard input closes (so it never outlives a parent that died).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kmsharness/kmsharness/softhsm"
	"github.com/kmsharness/kmsharness/softhsm/node"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// readyLine is what hsmnode prints once it accepts connections.
type readyLine struct {
	HSMID  string `json:"hsmId"`
	Listen string `json:"listen"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hsmnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "directory holding the node's token and state (required)")
	listen := fs.String("listen", "127.0.0.1:0", "TLS address to serve on; port 0 picks a free one")
	lib := fs.String("softhsm-lib", softhsm.DefaultLibraryPath, "path of the SoftHSM2 PKCS#11 library")
	threshold := fs.Int("lockout-threshold", users.DefaultLockoutThreshold, "consecutive failed logins that lock a user")
	maxSessions := fs.Int("max-sessions", softhsm.DefaultMaxSessions, "PKCS#11 sessions the node may open")
	maxLoaded := fs.Int("max-loaded-keys", softhsm.DefaultMaxLoadedKeys, "keys held loaded in SoftHSM at once (about 9 KB each); the others are loaded when used")
	exitOnStdin := fs.Bool("exit-on-stdin-close", false, "shut down when standard input closes")
	noSync := fs.Bool("no-sync", false, "do not flush the key database to disk on each change (keys survive a kill of the node, not of the machine)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hsmnode: unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(stderr, "hsmnode: --data-dir is required")
		return 2
	}
	if *threshold < 1 || *maxSessions < 1 || *maxLoaded < 1 {
		fmt.Fprintln(stderr, "hsmnode: --lockout-threshold, --max-sessions and --max-loaded-keys must be at least 1")
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "hsmnode: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Catch the signals before anyone can learn our address and send one.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	n, err := node.Open(node.Config{
		DataDir: *dataDir, LibraryPath: *lib, LockoutThreshold: *threshold, MaxSessions: *maxSessions,
		MaxLoadedKeys: *maxLoaded, NoSync: *noSync, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "hsmnode: %v\n", err)
		return 1
	}
	l, err := n.Listen(*listen)
	if err != nil {
		_ = n.Close()
		fmt.Fprintf(stderr, "hsmnode: %v\n", err)
		return 1
	}
	ready, _ := json.Marshal(readyLine{HSMID: n.HSMID(), Listen: l.Addr().String()})
	fmt.Fprintf(stdout, "%s\n", ready)
	log.Info("serving", "listen", l.Addr().String())

	if *exitOnStdin {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			stop()
		}()
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(l) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-served:
	}
	if cerr := n.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "hsmnode: %v\n", err)
		return 1
	}
	return 0
}
