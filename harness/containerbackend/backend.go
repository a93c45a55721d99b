// Package containerbackend runs each emulated HSM as a container of the
// hsmnode image through testcontainers-go: every subnet of the emulated VPC
// is a Docker network of its own, a node's data directory is a host
// directory mounted at /data, and its TLS port is published on 127.0.0.1
// only. It implements cloudhsm.HSMBackend and the node controls faults use
// (kill, pause, resume, restart). Containers and networks carry the label
// LabelKey=<run>; Close removes the run's, and RemoveLeftovers what a crashed
// run left (Ryuk, the reaper, cannot be pulled here, so it is off).
package containerbackend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/internal/atomicfile"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// DefaultImage is the image `make image` builds.
const DefaultImage = "kmsharness/hsmnode:dev"

// LabelKey marks every container and network of kmsharness; its value is
// the run that made it.
const LabelKey = "org.kmsharness.run"

const nodePort = "2225/tcp"

// ErrUnknownHSM means the backend runs no container for that HSM.
var ErrUnknownHSM = errors.New("no such HSM container")

// Config configures the backend.
type Config struct {
	// Image is the hsmnode image (DefaultImage if empty).
	Image string
	// Root holds one data directory per HSM, mounted into its container.
	Root string
	// LockoutThreshold is passed to the nodes (their default if 0).
	LockoutThreshold int
	// Logger receives the backend's logs.
	Logger *slog.Logger
}

// Backend runs hsmnode containers.
type Backend struct {
	cfg    Config
	run    string
	docker *testcontainers.DockerClient

	mu        sync.Mutex
	nodes     map[string]*node
	networks  map[string]*testcontainers.DockerNetwork // by subnet ID
	users     map[string]int                           // nodes per subnet network
	nextBlock int
}

type node struct {
	hsmID, dir, subnet string
	c                  *testcontainers.DockerContainer
	addr               string
}

func init() {
	// The reaper image cannot be pulled here; the backend cleans up itself.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
}

// Available reports whether a Docker engine answers.
func Available(ctx context.Context) error {
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer docker.Close()
	_, err = docker.Ping(ctx, client.PingOptions{})
	return err
}

// New returns a backend; its containers are labelled with a new run ID.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.Root == "" {
		return nil, errors.New("containerbackend: a root directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	useLogger(cfg.Logger)
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, err
	}
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerbackend: Docker: %w", err)
	}
	if _, err := docker.ImageInspect(ctx, cfg.Image); err != nil {
		_ = docker.Close()
		return nil, fmt.Errorf("containerbackend: image %s: %w (build it with make image)", cfg.Image, err)
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	start, _ := rand.Int(rand.Reader, big.NewInt(1<<15))
	return &Backend{cfg: cfg, run: run, docker: docker, nodes: map[string]*node{}, networks: map[string]*testcontainers.DockerNetwork{},
		users: map[string]int{}, nextBlock: int(start.Int64())}, nil
}

// labelPID names the process that owns a run, to tell a crashed run's
// leftovers from a live run's containers.
const labelPID = "org.kmsharness.pid"

func (b *Backend) labels() map[string]string {
	return map[string]string{LabelKey: b.run, labelPID: strconv.Itoa(os.Getpid())}
}

// RemoveLeftovers removes the containers and networks of runs whose owning
// process is gone (a crashed or killed run), and returns how many.
func RemoveLeftovers(ctx context.Context) (int, error) {
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return 0, err
	}
	defer docker.Close()
	filters := client.Filters{}.Add("label", LabelKey)
	removed := 0
	var errs []error
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return 0, err
	}
	for _, c := range cs.Items {
		if ownerAlive(c.Labels[labelPID]) {
			continue
		}
		if _, err := docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	nws, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	for _, nw := range nws.Items {
		if ownerAlive(nw.Labels[labelPID]) {
			continue
		}
		if _, err := docker.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// ownerAlive reports whether the process named by a pid label runs.
func ownerAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	return err == nil && n > 0 && syscall.Kill(n, 0) == nil
}

// subnetNetwork returns the Docker network of a subnet, creating it with a
// /24 of its own in 10.128.0.0/9. Docker's default address pools hold only a
// few dozen networks, and parallel runs must not overlap, so the backend
// picks blocks itself, from a random start, moving on when one is taken.
func (b *Backend) subnetNetwork(ctx context.Context, subnetID string) (*testcontainers.DockerNetwork, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if nw, ok := b.networks[subnetID]; ok {
		b.users[subnetID]++
		return nw, nil
	}
	var lastErr error
	for range 64 {
		b.nextBlock = (b.nextBlock + 1) % (1 << 15)
		block := uint32(10)<<24 | 1<<23 | uint32(b.nextBlock)<<8
		prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(block >> 24), byte(block >> 16), byte(block >> 8), 0}), 24)
		nw, err := network.New(ctx, network.WithLabels(b.labels()),
			network.WithIPAM(&mobynet.IPAM{Config: []mobynet.IPAMConfig{{Subnet: prefix}}}))
		if err == nil {
			b.networks[subnetID] = nw
			b.users[subnetID] = 1
			return nw, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return nil, fmt.Errorf("network for %s: %w", subnetID, lastErr)
}

// releaseNetwork removes a subnet's network once no node uses it; b.mu is
// held.
func (b *Backend) releaseNetwork(ctx context.Context, subnetID string) error {
	b.users[subnetID]--
	if b.users[subnetID] > 0 {
		return nil
	}
	nw, ok := b.networks[subnetID]
	delete(b.networks, subnetID)
	delete(b.users, subnetID)
	if !ok {
		return nil
	}
	return nw.Remove(ctx)
}

// StartHSM prepares the node's data directory and starts its container.
func (b *Backend) StartHSM(ctx context.Context, spec cloudhsm.HSMSpec) (string, error) {
	dir := filepath.Join(b.cfg.Root, spec.HSMID)
	bs := nodefiles.Bootstrap{HSMID: spec.HSMID, ClusterSecret: spec.ClusterSecret}
	for _, u := range spec.Users {
		bs.Users = append(bs.Users, nodefiles.BootstrapUser{Name: u.Name, Role: users.Role(u.Role), Password: u.Password})
	}
	if err := nodefiles.PrepareDataDir(dir, bs, spec.TLSKeyPEM, spec.TLSChainPEM); err != nil {
		return "", fmt.Errorf("prepare %s: %w", spec.HSMID, err)
	}
	return b.start(ctx, spec.HSMID, dir, spec.SubnetID)
}

func (b *Backend) start(ctx context.Context, hsmID, dir, subnetID string) (string, error) {
	// A write the node (or this backend) did not finish before a crash
	// left its temporary file, holding PINs or keys, in the node's data.
	if n, err := atomicfile.RemoveStale(dir); err != nil || n > 0 {
		b.cfg.Logger.Info("removed files of interrupted writes", "hsm", hsmID, "files", n, "err", err)
	}
	nw, err := b.subnetNetwork(ctx, subnetID)
	if err != nil {
		return "", err
	}
	args := []string{"--data-dir", "/data", "--listen", "0.0.0.0:2225"}
	if b.cfg.LockoutThreshold > 0 {
		args = append(args, "--lockout-threshold", strconv.Itoa(b.cfg.LockoutThreshold))
	}
	port := mobynet.MustParsePort(nodePort)
	c, err := testcontainers.Run(ctx, b.cfg.Image,
		testcontainers.WithLogger(tcLogger{log: b.cfg.Logger}),
		testcontainers.WithCmd(args...),
		testcontainers.WithExposedPorts(nodePort),
		testcontainers.WithLabels(b.labels()),
		network.WithNetwork([]string{hsmID}, nw),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, dir+":/data")
			hc.PortBindings = mobynet.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
		}),
		// The node logs "serving" once it listens; look every 20 ms rather
		// than testcontainers' 100 ms, a start takes about that long.
		testcontainers.WithWaitStrategy(wait.ForLog("serving").WithStartupTimeout(60*time.Second).WithPollInterval(20*time.Millisecond)),
	)
	if err == nil {
		var mapped mobynet.Port
		if mapped, err = c.MappedPort(ctx, nodePort); err == nil {
			n := &node{hsmID: hsmID, dir: dir, subnet: subnetID, c: c, addr: "127.0.0.1:" + mapped.Port()}
			b.mu.Lock()
			b.nodes[hsmID] = n
			b.mu.Unlock()
			return n.addr, nil
		}
	}
	if c != nil {
		_ = c.Terminate(context.WithoutCancel(ctx))
	}
	b.mu.Lock()
	_ = b.releaseNetwork(context.WithoutCancel(ctx), subnetID)
	b.mu.Unlock()
	return "", fmt.Errorf("start container for %s: %w", hsmID, err)
}

func (b *Backend) node(hsmID string) (*node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.nodes[hsmID]
	if !ok {
		return nil, fmt.Errorf("%s: %w", hsmID, ErrUnknownHSM)
	}
	return n, nil
}

// ResumeHSM starts a node of a previous run from its data directory.
func (b *Backend) ResumeHSM(ctx context.Context, hsmID string) (string, error) {
	if n, err := b.node(hsmID); err == nil {
		return n.addr, nil
	}
	dir := filepath.Join(b.cfg.Root, hsmID)
	if _, err := os.Stat(filepath.Join(dir, nodefiles.StateFile)); err != nil {
		return "", fmt.Errorf("resume %s: no node data: %w", hsmID, err)
	}
	return b.start(ctx, hsmID, dir, "resumed")
}

// StopHSM removes the container and the node's data (the HSM is gone).
func (b *Backend) StopHSM(ctx context.Context, hsmID string) error {
	n, err := b.node(hsmID)
	if err != nil {
		return err
	}
	err = n.c.Terminate(ctx)
	b.mu.Lock()
	delete(b.nodes, hsmID)
	err = errors.Join(err, b.releaseNetwork(ctx, n.subnet))
	b.mu.Unlock()
	return errors.Join(err, os.RemoveAll(n.dir))
}

// UpdateTLS replaces the node's certificate chain in its mounted directory.
func (b *Backend) UpdateTLS(_ context.Context, hsmID string, chainPEM []byte) error {
	n, err := b.node(hsmID)
	if err != nil {
		return err
	}
	return nodefiles.WriteTLS(n.dir, nil, chainPEM)
}

// Kill kills the node's container (a crashed HSM); Restart brings it back.
func (b *Backend) Kill(hsmID string) error {
	n, err := b.node(hsmID)
	if err != nil {
		return err
	}
	_, err = b.docker.ContainerKill(context.Background(), n.c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"})
	return err
}

// Pause freezes the node's container (a hung HSM); Resume thaws it.
func (b *Backend) Pause(hsmID string) error {
	n, err := b.node(hsmID)
	if err != nil {
		return err
	}
	_, err = b.docker.ContainerPause(context.Background(), n.c.GetContainerID(), client.ContainerPauseOptions{})
	return err
}

// Resume thaws a paused container.
func (b *Backend) Resume(hsmID string) error {
	n, err := b.node(hsmID)
	if err != nil {
		return err
	}
	_, err = b.docker.ContainerUnpause(context.Background(), n.c.GetContainerID(), client.ContainerUnpauseOptions{})
	return err
}

// Restart starts a stopped or killed node's container again; its published
// port may change.
func (b *Backend) Restart(ctx context.Context, hsmID string) (string, error) {
	n, err := b.node(hsmID)
	if err != nil {
		return "", err
	}
	_ = n.c.Terminate(ctx)
	b.mu.Lock()
	delete(b.nodes, hsmID)
	_ = b.releaseNetwork(ctx, n.subnet)
	b.mu.Unlock()
	return b.start(ctx, hsmID, n.dir, n.subnet)
}

// Disconnect cuts the node's container off its network, the real network
// fault: its published port stops answering. Docker does not bring a
// published port back when the container rejoins its network, so the way
// back is Restart (a new container on the same data).
func (b *Backend) Disconnect(hsmID string) error {
	n, err := b.node(hsmID)
	if err != nil {
		return err
	}
	b.mu.Lock()
	nw := b.networks[n.subnet]
	b.mu.Unlock()
	if nw == nil {
		return fmt.Errorf("%s has no network", hsmID)
	}
	_, err = b.docker.NetworkDisconnect(context.Background(), nw.ID, client.NetworkDisconnectOptions{Container: n.c.GetContainerID(), Force: true})
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", hsmID, err)
	}
	return nil
}

// RemoveSubnet removes a subnet's Docker network, cutting its containers
// off (the subnet was deleted); they stay cut off until restarted.
func (b *Backend) RemoveSubnet(ctx context.Context, subnetID string) error {
	b.mu.Lock()
	nw, ok := b.networks[subnetID]
	var members []*node
	for _, n := range b.nodes {
		if n.subnet == subnetID {
			members = append(members, n)
		}
	}
	b.mu.Unlock()
	if !ok {
		return nil
	}
	for _, n := range members {
		if _, err := b.docker.NetworkDisconnect(ctx, nw.ID, client.NetworkDisconnectOptions{Container: n.c.GetContainerID(), Force: true}); err != nil {
			return fmt.Errorf("disconnect %s: %w", n.hsmID, err)
		}
	}
	if err := nw.Remove(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.networks, subnetID)
	delete(b.users, subnetID)
	b.mu.Unlock()
	return nil
}

// Running reports whether the node's container runs.
func (b *Backend) Running(hsmID string) bool {
	n, err := b.node(hsmID)
	if err != nil {
		return false
	}
	st, err := n.c.State(context.Background())
	return err == nil && st.Running
}

// Address returns where the node's port is published.
func (b *Backend) Address(hsmID string) (string, error) {
	n, err := b.node(hsmID)
	if err != nil {
		return "", err
	}
	return n.addr, nil
}

// Close removes the run's containers and networks; data directories stay
// under Root.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	nodes, networks := b.nodes, b.networks
	b.nodes, b.networks = map[string]*node{}, map[string]*testcontainers.DockerNetwork{}
	b.mu.Unlock()
	// Containers first (a network in use cannot go), then networks: a
	// harness that made many clusters has a network per subnet of each, and
	// removed one after another they took minutes.
	err := inParallel(nodes, func(n *node) error { return n.c.Terminate(ctx) })
	err = errors.Join(err, inParallel(networks, func(nw *testcontainers.DockerNetwork) error { return nw.Remove(ctx) }))
	return errors.Join(err, b.docker.Close())
}

// inParallel calls fn on every value of m at once and joins their errors.
func inParallel[V any](m map[string]V, fn func(V) error) error {
	errs := make(chan error, len(m))
	var wg sync.WaitGroup
	for _, v := range m {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fn(v)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
