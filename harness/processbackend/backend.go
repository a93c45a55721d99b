// Package processbackend runs each emulated HSM as an hsmnode child process
// on 127.0.0.1. It implements cloudhsm.HSMBackend, and can also stop, kill,
// pause and restart nodes for fault injection. Children never outlive the
// backend: Close stops them all, and each child exits when its standard
// input (a pipe held by this process) closes, so even a crashed test run
// leaves no node behind.
package processbackend

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/internal/atomicfile"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// Config configures the backend.
type Config struct {
	// Binary is the hsmnode executable (see FindBinary).
	Binary string
	// Root holds one data directory per HSM.
	Root string
	// SoftHSMLibrary is passed to the nodes (their default if empty).
	SoftHSMLibrary string
	// LockoutThreshold is passed to the nodes (their default if 0).
	LockoutThreshold int
	// NoSync tells the nodes not to flush their key databases to disk (for
	// a harness whose state is temporary).
	NoSync bool
	// StartTimeout bounds a node's start-up (default 30 s).
	StartTimeout time.Duration
	// Logger receives the nodes' log lines.
	Logger *slog.Logger
}

// ErrUnknownHSM means the backend runs no node with that HSM ID.
var ErrUnknownHSM = errors.New("no such HSM node")

// Backend runs hsmnode processes.
type Backend struct {
	cfg Config

	mu    sync.Mutex
	nodes map[string]*nodeProc
}

type nodeProc struct {
	hsmID string
	dir   string
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process exited
}

// New returns a backend.
func New(cfg Config) (*Backend, error) {
	if cfg.Binary == "" {
		return nil, errors.New("processbackend: the hsmnode binary is required")
	}
	if cfg.Root == "" {
		return nil, errors.New("processbackend: a root directory is required")
	}
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, err
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Backend{cfg: cfg, nodes: map[string]*nodeProc{}}, nil
}

// StartHSM prepares the node's data directory and starts it.
func (b *Backend) StartHSM(ctx context.Context, spec cloudhsm.HSMSpec) (string, error) {
	dir := filepath.Join(b.cfg.Root, spec.HSMID)
	bs := nodefiles.Bootstrap{HSMID: spec.HSMID, ClusterSecret: spec.ClusterSecret}
	for _, u := range spec.Users {
		bs.Users = append(bs.Users, nodefiles.BootstrapUser{Name: u.Name, Role: users.Role(u.Role), Password: u.Password})
	}
	if err := nodefiles.PrepareDataDir(dir, bs, spec.TLSKeyPEM, spec.TLSChainPEM); err != nil {
		return "", fmt.Errorf("prepare %s: %w", spec.HSMID, err)
	}
	return b.start(ctx, spec.HSMID, dir, "127.0.0.1:0")
}

// start runs the node and waits for its ready line.
func (b *Backend) start(ctx context.Context, hsmID, dir, listen string) (string, error) {
	// A write the node (or this backend) did not finish before a crash
	// left its temporary file, holding PINs or keys, in the node's data.
	if n, err := atomicfile.RemoveStale(dir); err != nil || n > 0 {
		b.cfg.Logger.Info("removed files of interrupted writes", "hsm", hsmID, "files", n, "err", err)
	}
	args := []string{"--data-dir", dir, "--listen", listen, "--exit-on-stdin-close"}
	if b.cfg.SoftHSMLibrary != "" {
		args = append(args, "--softhsm-lib", b.cfg.SoftHSMLibrary)
	}
	if b.cfg.LockoutThreshold > 0 {
		args = append(args, "--lockout-threshold", strconv.Itoa(b.cfg.LockoutThreshold))
	}
	if b.cfg.NoSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.Command(b.cfg.Binary, args...)
	// Its own process group: a terminal's Ctrl-C reaches the harness, which
	// then stops the nodes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start hsmnode %s: %w", hsmID, err)
	}
	p := &nodeProc{hsmID: hsmID, dir: dir, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lastErr := make(chan string, 1)
	go b.pipeLogs(hsmID, stderr, lastErr)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			ready <- sc.Text()
		}
		close(ready)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	timer := time.NewTimer(b.cfg.StartTimeout)
	defer timer.Stop()
	fail := func(err error) (string, error) {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-p.done
		return "", err
	}
	select {
	case line, ok := <-ready:
		if !ok {
			<-p.done
			msg := ""
			select {
			case msg = <-lastErr:
			case <-time.After(time.Second):
			}
			return fail(fmt.Errorf("hsmnode %s exited before it was ready: %s", hsmID, msg))
		}
		var r struct {
			Listen string `json:"listen"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Listen == "" {
			return fail(fmt.Errorf("hsmnode %s printed an unexpected ready line %q", hsmID, line))
		}
		p.addr = r.Listen
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-timer.C:
		return fail(fmt.Errorf("hsmnode %s was not ready within %s", hsmID, b.cfg.StartTimeout))
	}
	b.mu.Lock()
	b.nodes[hsmID] = p
	b.mu.Unlock()
	return p.addr, nil
}

// pipeLogs forwards the node's stderr to the logger, keeping the last line
// for start-up errors.
func (b *Backend) pipeLogs(hsmID string, r io.Reader, last chan<- string) {
	sc := bufio.NewScanner(r)
	line := ""
	for sc.Scan() {
		line = sc.Text()
		b.cfg.Logger.Debug(line, "hsm", hsmID)
	}
	last <- line
}

func (b *Backend) proc(hsmID string) (*nodeProc, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.nodes[hsmID]
	if !ok {
		return nil, fmt.Errorf("%s: %w", hsmID, ErrUnknownHSM)
	}
	return p, nil
}

// Address returns where the node listens.
func (b *Backend) Address(hsmID string) (string, error) {
	p, err := b.proc(hsmID)
	if err != nil {
		return "", err
	}
	return p.addr, nil
}

// Running reports whether the node's process is alive.
func (b *Backend) Running(hsmID string) bool {
	p, err := b.proc(hsmID)
	if err != nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID returns the node's process ID.
func (b *Backend) PID(hsmID string) (int, error) {
	p, err := b.proc(hsmID)
	if err != nil {
		return 0, err
	}
	return p.cmd.Process.Pid, nil
}

// Stop ends the node gracefully (SIGTERM, then SIGKILL when ctx ends) and
// keeps its data directory, so Restart brings it back with its keys.
func (b *Backend) Stop(ctx context.Context, hsmID string) error {
	p, err := b.proc(hsmID)
	if err != nil {
		return err
	}
	return p.stop(ctx)
}

func (p *nodeProc) stop(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	// A paused node cannot handle SIGTERM until it runs again.
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
	case <-grace.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.stdin.Close()
	return nil
}

// Kill ends the node with SIGKILL (a crashed HSM), keeping its data.
func (b *Backend) Kill(hsmID string) error {
	p, err := b.proc(hsmID)
	if err != nil {
		return err
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = p.stdin.Close()
	return nil
}

// Pause freezes the node (SIGSTOP): it keeps its connections but answers
// nothing, like a hung HSM. Resume undoes it.
func (b *Backend) Pause(hsmID string) error {
	p, err := b.proc(hsmID)
	if err != nil {
		return err
	}
	return p.cmd.Process.Signal(syscall.SIGSTOP)
}

// Resume continues a paused node (SIGCONT).
func (b *Backend) Resume(hsmID string) error {
	p, err := b.proc(hsmID)
	if err != nil {
		return err
	}
	return p.cmd.Process.Signal(syscall.SIGCONT)
}

// Restart starts a stopped or killed node again from its data directory,
// on the same address.
func (b *Backend) Restart(ctx context.Context, hsmID string) (string, error) {
	p, err := b.proc(hsmID)
	if err != nil {
		return "", err
	}
	if err := p.stop(ctx); err != nil {
		return "", err
	}
	return b.start(ctx, hsmID, p.dir, p.addr)
}

// ResumeHSM starts the node of a previous run from its data directory.
func (b *Backend) ResumeHSM(ctx context.Context, hsmID string) (string, error) {
	dir := filepath.Join(b.cfg.Root, hsmID)
	if _, err := os.Stat(filepath.Join(dir, nodefiles.StateFile)); err != nil {
		return "", fmt.Errorf("resume %s: no node data: %w", hsmID, err)
	}
	if b.Running(hsmID) {
		return b.Address(hsmID)
	}
	return b.start(ctx, hsmID, dir, "127.0.0.1:0")
}

// StopHSM stops the node and deletes its data (the HSM is gone).
func (b *Backend) StopHSM(ctx context.Context, hsmID string) error {
	p, err := b.proc(hsmID)
	if err != nil {
		return err
	}
	err = p.stop(ctx)
	b.mu.Lock()
	delete(b.nodes, hsmID)
	b.mu.Unlock()
	return errors.Join(err, os.RemoveAll(p.dir))
}

// UpdateTLS replaces the node's certificate chain.
func (b *Backend) UpdateTLS(_ context.Context, hsmID string, chainPEM []byte) error {
	p, err := b.proc(hsmID)
	if err != nil {
		return err
	}
	return nodefiles.WriteTLS(p.dir, nil, chainPEM)
}

// HSMs returns the IDs of the nodes the backend knows.
func (b *Backend) HSMs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.nodes))
	for id := range b.nodes {
		out = append(out, id)
	}
	return out
}

// Close stops every node; their data directories stay under Root.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	procs := make([]*nodeProc, 0, len(b.nodes))
	for _, p := range b.nodes {
		procs = append(procs, p)
	}
	b.nodes = map[string]*nodeProc{}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.stop(ctx)
		}()
	}
	wg.Wait()
	return nil
}
