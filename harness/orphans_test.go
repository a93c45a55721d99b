package harness_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
)

// orphanChildEnv makes the test binary act as a harness owner that gets
// killed, to show its nodes do not outlive it.
const orphanChildEnv = "KMSHARNESS_ORPHAN_CHILD"

// runOrphanChild starts a harness with a cluster, prints the node PIDs and
// waits to be killed.
func runOrphanChild() int {
	ctx := context.Background()
	h, err := harness.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := h.NewCluster(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var pids []string
	for _, id := range h.Processes().HSMs() {
		pid, _ := h.Processes().PID(id)
		pids = append(pids, strconv.Itoa(pid))
	}
	fmt.Println(strings.Join(pids, " "))
	fmt.Println(h.Dir())
	select {}
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func nodePIDs(hh *harness.Harness) []int {
	var pids []int
	for _, id := range hh.Processes().HSMs() {
		pid, err := hh.Processes().PID(id)
		Expect(err).NotTo(HaveOccurred())
		pids = append(pids, pid)
	}
	return pids
}

var _ = Describe("Node processes", func() {
	It("are all gone after Close", func(ctx SpecContext) {
		own, err := harness.Start(ctx)
		DeferCleanup(own.Close, context.Background())
		Expect(err).NotTo(HaveOccurred())
		_, err = own.NewCluster(ctx, harness.WithHSMs(3))
		Expect(err).NotTo(HaveOccurred())
		pids := nodePIDs(own)
		Expect(pids).To(HaveLen(3))
		for _, pid := range pids {
			Expect(alive(pid)).To(BeTrue())
		}
		dir := own.Dir()
		Expect(own.Close(ctx)).To(Succeed())
		for _, pid := range pids {
			Expect(alive(pid)).To(BeFalse(), "node %d still running", pid)
		}
		Expect(dir).NotTo(BeADirectory())
	})

	It("exit when the process that started them is killed, and the next harness removes what it left", func(ctx SpecContext) {
		self, err := os.Executable()
		Expect(err).NotTo(HaveOccurred())
		child := exec.CommandContext(ctx, self)
		child.Env = append(os.Environ(), orphanChildEnv+"=1")
		child.Stderr = GinkgoWriter
		out, err := child.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(child.Start()).To(Succeed())
		DeferCleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
		lines := bufio.NewReader(out)
		line, err := lines.ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		dir, err := lines.ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		dir = strings.TrimSpace(dir)
		Expect(dir).To(BeADirectory())
		Expect(harness.RemoveLeftovers(slog.New(slog.DiscardHandler))).NotTo(ContainElement(dir), "a live harness's directory is kept")
		Expect(dir).To(BeADirectory())
		var pids []int
		for _, f := range strings.Fields(line) {
			pid, err := strconv.Atoi(f)
			Expect(err).NotTo(HaveOccurred())
			pids = append(pids, pid)
		}
		Expect(pids).To(HaveLen(2))
		Expect(child.Process.Signal(syscall.SIGKILL)).To(Succeed())
		_ = child.Wait()
		for _, pid := range pids {
			Eventually(func() bool { return alive(pid) }).Should(BeFalse(), "node %d outlived its parent", pid)
		}
		// The next harness to start removes it (here, or one of a
		// parallel spec, which may come first).
		harness.RemoveLeftovers(slog.New(slog.DiscardHandler))
		Expect(dir).NotTo(BeADirectory(), "a killed harness's directory is removed")
	})
})

var _ = Describe("A harness without a data directory", func() {
	It("lives in WithTempRoot's directory and removes it on Close", func(ctx SpecContext) {
		root := GinkgoT().TempDir()
		own, err := harness.Start(ctx, harness.WithTempRoot(root))
		DeferCleanup(own.Close, context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(filepath.Dir(own.Dir())).To(Equal(root))
		Expect(own.Close(ctx)).To(Succeed())
		Expect(os.ReadDir(root)).To(BeEmpty())
	})
})
