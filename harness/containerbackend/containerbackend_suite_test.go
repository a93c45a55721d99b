package containerbackend_test

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/harness/containerbackend"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/suites"
)

// The same conformance and fault suites as on the process backend, with
// every HSM a container. Without a Docker engine the suite skips, saying so.

var (
	h   *harness.Harness
	cfg suites.Config
)

func TestContainerBackend(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	RunSpecs(t, "container backend", Label("needs:docker"))
}

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	if err := containerbackend.Available(ctx); err != nil {
		Skip("needs a Docker engine: " + err.Error())
	}
	build := exec.CommandContext(ctx, "scripts/build-image.sh", containerbackend.DefaultImage)
	build.Dir = testenv.ModuleRoot()
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "make image: %s", out)
	return nil
}, func(ctx SpecContext, _ []byte) {
	if err := containerbackend.Available(ctx); err != nil {
		Skip("needs a Docker engine: " + err.Error())
	}
	var err error
	h, err = harness.Start(ctx, harness.WithBackend(harness.BackendContainer), harness.WithLogger(testenv.Logger(GinkgoWriter)),
		harness.WithKMSOptions(kms.WithDayLength(25*time.Millisecond), kms.WithConnectDelay(300*time.Millisecond),
			kms.WithDisconnectDelay(200*time.Millisecond)))
	Expect(err).NotTo(HaveOccurred())
	cfg = suites.Config{
		Endpoint:    h.KMSEndpoint(),
		Region:      h.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, ""),
		Control:     h.ControlClient(),
		// A stuck store fails its spec after a minute, not the 20
		// minutes AWS may take to connect.
		ConnectTimeout: time.Minute,
	}
})

var _ = SynchronizedAfterSuite(func(ctx SpecContext) {
	if h != nil {
		Expect(h.Close(ctx)).To(Succeed())
	}
}, func(ctx SpecContext) {
	if containerbackend.Available(ctx) != nil {
		return
	}
	// No container or network of this suite's processes is left once every
	// harness closed (other suites and runs may have theirs meanwhile).
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	Expect(err).NotTo(HaveOccurred())
	defer docker.Close()
	filters := client.Filters{}.Add("label", containerbackend.LabelKey)
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	Expect(err).NotTo(HaveOccurred())
	var containers []string
	for _, c := range cs.Items {
		if ofThisSuite(c.Labels) {
			containers = append(containers, c.ID)
		}
	}
	Expect(containers).To(BeEmpty(), "containers left behind")
	nws, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	Expect(err).NotTo(HaveOccurred())
	var networks []string
	for _, nw := range nws.Items {
		if ofThisSuite(nw.Labels) {
			networks = append(networks, nw.Name)
		}
	}
	Expect(networks).To(BeEmpty(), "networks left behind")
})

// ofThisSuite reports whether a container or network was made by one of
// this suite's processes: this one, or another child of the ginkgo that
// runs it (they are all alive until the suite ends).
func ofThisSuite(labels map[string]string) bool {
	pid, err := strconv.Atoi(labels["org.kmsharness.pid"])
	if err != nil {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The parent's PID is the second field after the command name in
	// parentheses (which may itself hold spaces or parentheses).
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 1 && fields[1] == strconv.Itoa(os.Getppid())
}

var _ = suites.Register(&cfg)

var _ = Describe("HSM containers", func() {
	It("publish their port on 127.0.0.1 only, and a killed one comes back with its keys", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		Expect(hsms[0].Address).To(HavePrefix("127.0.0.1:"))
		conn, err := c.Dial(ctx, hsms[0].ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(conn.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())
		id, err := conn.GenerateKey(ctx, "in a container")
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := conn.Encrypt(ctx, id, []byte("kept"), nil)
		Expect(err).NotTo(HaveOccurred())
		_ = conn.Close()

		Expect(h.Nodes().Kill(hsms[0].ID)).To(Succeed())
		Eventually(func() bool { return h.Nodes().Running(hsms[0].ID) }).Should(BeFalse())
		addr, err := h.Nodes().Restart(ctx, hsms[0].ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.ControlPlane().SetHSMAddress(hsms[0].ID, addr)).To(Succeed())
		again, err := c.Dial(ctx, hsms[0].ID)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(again.Close)
		Expect(again.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())
		pt, err := again.Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("kept")))
	})
})

var _ = Describe("A crashed run", func() {
	It("leaves containers that the next start finds by label and removes", func(ctx SpecContext) {
		bin, err := testenv.ProjectBinary(GinkgoT().TempDir(), "./cmd/kmsharness")
		Expect(err).NotTo(HaveOccurred())
		up := exec.CommandContext(ctx, bin, "up", "--print-env", "--backend", "container")
		up.Stderr = GinkgoWriter
		out, err := up.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(up.Start()).To(Succeed())
		buf := make([]byte, 4096)
		var got string
		for !strings.Contains(got, "AWS_SECRET_ACCESS_KEY") {
			n, err := out.Read(buf)
			Expect(err).NotTo(HaveOccurred())
			got += string(buf[:n])
		}
		Expect(up.Process.Kill()).To(Succeed()) // no chance to clean up
		_ = up.Wait()

		docker, err := testcontainers.NewDockerClientWithOpts(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer docker.Close()
		mine := client.Filters{}.Add("label", "org.kmsharness.pid="+strconv.Itoa(up.Process.Pid))
		left, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
		Expect(err).NotTo(HaveOccurred())
		Expect(left.Items).To(HaveLen(2), "the killed run's HSM containers are still there")

		removed, err := containerbackend.RemoveLeftovers(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(BeNumerically(">=", 2))
		left, err = docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
		Expect(err).NotTo(HaveOccurred())
		Expect(left.Items).To(BeEmpty())
		Expect(h.Nodes()).NotTo(BeNil(), "this process's live run is untouched")
	})
})
