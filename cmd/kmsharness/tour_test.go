package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

// tourMarker precedes the README's aws CLI tour, the shell block that
// tourBlock extracts.
const tourMarker = "<!-- tour: run as written by cmd/kmsharness/tour_test.go -->"

// tourBlock returns the lines of the README's tour, as a newcomer copies them.
func tourBlock() []string {
	readme, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(), "README.md"))
	Expect(err).NotTo(HaveOccurred())
	_, rest, found := strings.Cut(string(readme), tourMarker)
	Expect(found).To(BeTrue(), "the README has no tour block")
	rest = strings.TrimLeft(rest, "\n")
	Expect(rest).To(HavePrefix("```sh\n"))
	block, _, found := strings.Cut(strings.TrimPrefix(rest, "```sh\n"), "```")
	Expect(found).To(BeTrue(), "the tour block is not closed")
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

var _ = Describe("the README's aws CLI tour", func() {
	It("runs as written, answers what its comments say and leaves no file behind", func(ctx SpecContext) {
		aws, err := exec.LookPath("aws")
		Expect(err).NotTo(HaveOccurred(), "the tour needs the aws CLI (Debian: awscli)")

		lines := tourBlock()
		// The first step builds bin/; the suite has built the same
		// binaries, which a bin/ of links stands for.
		Expect(lines[0]).To(Equal("make build"))
		work := GinkgoT().TempDir()
		Expect(os.Mkdir(filepath.Join(work, "bin"), 0o755)).To(Succeed())
		for _, name := range []string{"kmsharness", "hsmnode"} {
			Expect(os.Symlink(filepath.Join(filepath.Dir(bin), name), filepath.Join(work, "bin", name))).To(Succeed())
		}
		script := "set -euo pipefail\n" + strings.Join(lines[1:], "\n") + "\n"

		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(),
			"KMSHARNESS_HSMNODE=",                                    // the hsmnode beside the binary, as after make build
			"AWS_EC2_METADATA_DISABLED=true",                         // the tour's credentials come from the env file
			"HOME="+GinkgoT().TempDir(), "AWS_CONFIG_FILE=/dev/null", // no profile of the machine's user
			"PATH="+filepath.Dir(aws)+":"+os.Getenv("PATH"))
		cmd.Stderr = GinkgoWriter
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "the tour failed; its output:\n%s", out)

		Expect(string(out)).To(ContainSubstring("hello\n"), "decrypt gives the plaintext back")
		outLines := strings.Split(strings.TrimSpace(string(out)), "\n")
		Expect(outLines[len(outLines)-1]).To(ContainSubstring("Unavailable"), "a key of a disconnected store is Unavailable")

		// Only the links stand in the work tree; the tour's own files went
		// with its temporary directory (make test's TMPDIR check sees those).
		entries, err := os.ReadDir(work)
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		Expect(names).To(ConsistOf("bin"), "the tour left files in the work tree")
	}, SpecTimeout(2*time.Minute))
})
