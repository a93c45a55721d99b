package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
)

func TestHSMNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hsmnode")
}

var _ = It("exits with status 2 on bad flags", func() {
	for _, args := range [][]string{
		{},
		{"--data-dir", GinkgoT().TempDir(), "--lockout-threshold", "0"},
		{"--data-dir", GinkgoT().TempDir(), "--log-level", "loud"},
		{"--data-dir", GinkgoT().TempDir(), "extra"},
		{"--no-such-flag"},
	} {
		var stderr bytes.Buffer
		Expect(run(args, strings.NewReader(""), &bytes.Buffer{}, &stderr)).To(Equal(2), "hsmnode %v", args)
		Expect(stderr.String()).NotTo(BeEmpty(), "hsmnode %v printed no error", args)
	}
})

var _ = It("exits with status 1 and a clear error for an unusable data directory", func() {
	file := filepath.Join(GinkgoT().TempDir(), "file")
	Expect(os.WriteFile(file, nil, 0o600)).To(Succeed())
	for name, dir := range map[string]string{
		"missing":      filepath.Join(GinkgoT().TempDir(), "nope"),
		"a file":       file,
		"no bootstrap": GinkgoT().TempDir(),
	} {
		var stderr bytes.Buffer
		Expect(run([]string{"--data-dir", dir}, strings.NewReader(""), &bytes.Buffer{}, &stderr)).To(Equal(1), name)
		Expect(stderr.String()).To(HavePrefix("hsmnode: node: "), name)
	}
})

// TestServesAndStopsOnSIGTERM runs the real binary: it reports its address
// once listening and exits 0 on SIGTERM.
var _ = It("serves, reports its address and stops cleanly on SIGTERM", func() {
	t := GinkgoT()
	bin, err := testenv.ProjectBinary(t.TempDir(), "./cmd/hsmnode")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, _ := pki.NewSelfSignedCA("test")
	key, _ := pki.NewKey()
	nc, err := pki.IssueNodeCertificate(key, ca.Cert.Subject, "hsm-clitest2345")
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	if err := nodefiles.PrepareDataDir(dir, nodefiles.Bootstrap{HSMID: "hsm-clitest2345", ClusterSecret: secret}, nc.KeyPEM, nc.CertPEM); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--data-dir", dir, "--softhsm-lib", testenv.SoftHSMLibrary())
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v\n%s", err, stderr.String())
	}
	var ready readyLine
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.HSMID != "hsm-clitest2345" || !strings.HasPrefix(ready.Listen, "127.0.0.1:") {
		t.Fatalf("ready line %q", line)
	}
	if _, err := os.Stat(filepath.Join(dir, nodefiles.BootstrapFile)); !os.IsNotExist(err) {
		t.Error("the bootstrap file (it holds the cluster secret) was not removed")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hsmnode did not stop on SIGTERM")
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown log: %s", stderr.String())
	}

	// Once made, the node refuses to start if its token has gone.
	if err := os.RemoveAll(filepath.Join(dir, "softhsm", "tokens")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "softhsm", "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing from its token directory") {
		t.Fatalf("started without its token: %v %s", err, out)
	}
})
