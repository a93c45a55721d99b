package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/kmsharness/kmsharness/internal/loadgen"
)

var _ = Describe("kmsharness bench", func() {
	It("measures a running harness with what it sets up itself: a key, a store, keys in it", func() {
		vars, _, _ := up()
		env := os.Environ()
		for name, value := range vars {
			env = append(env, name+"="+value)
		}
		bench := func(args ...string) loadgen.Report {
			cmd := exec.Command(bin, append([]string{"bench", "--json"}, args...)...)
			cmd.Env = env
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
			var rep loadgen.Report
			Expect(json.Unmarshal(session.Out.Contents(), &rep)).To(Succeed())
			return rep
		}
		rep := bench("--op", "encrypt", "-c", "2", "-d", "500ms", "--size", "1024")
		Expect(rep.Ops).To(BeNumerically(">", 0))
		Expect(rep.Errors).To(BeZero())
		Expect(rep.P99Ms).To(BeNumerically(">=", rep.P50Ms))

		rep = bench("--op", "create-key", "--store", "new", "-c", "4", "-n", "40", "--batch", "10")
		Expect(rep.Ops).To(Equal(40))
		Expect(rep.Errors).To(BeZero())
		Expect(rep.BatchOpsPerSec).To(HaveLen(4))

		rep = bench("--op", "decrypt", "-c", "2", "-n", "20")
		Expect(rep.Ops).To(Equal(20))
		Expect(rep.Errors).To(BeZero())
	})

	It("counts failures by error code instead of hiding them", func() {
		vars, _, _ := up()
		cmd := exec.Command(bin, "bench", "--op", "encrypt", "--key", "alias/no-such-key", "-n", "5", "-c", "1")
		cmd.Env = append(os.Environ(), "KMS_ENDPOINT="+vars["KMS_ENDPOINT"], "AWS_REGION="+vars["AWS_REGION"],
			"AWS_ACCESS_KEY_ID="+vars["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY="+vars["AWS_SECRET_ACCESS_KEY"])
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).Should(gexec.Exit(0))
		Expect(session.Out).To(gbytes.Say(`errors\s+5`))
		Expect(session.Out).To(gbytes.Say(`NotFoundException\s+5`))
	})

	It("exits 2 on a workload that cannot run", func() {
		for _, args := range [][]string{
			{"bench", "--endpoint", "http://127.0.0.1:1", "--op", "sign"},
			{"bench", "--endpoint", "http://127.0.0.1:1", "--op", "encrypt", "--size", "5000"},
			{"bench", "--endpoint", "http://127.0.0.1:1", "--op", "encrypt", "--key", "k", "--store", "cks-1"},
		} {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y")
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).Should(gexec.Exit(2), "%v", args)
		}
	})
})
