package harness_test

import (
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// startOn starts a harness of its own on a data directory, closed after the
// spec.
func startOn(ctx context.Context, dir string) *harness.Harness {
	hh, err := harness.Start(ctx, harness.WithDataDir(dir), harness.WithLogger(testenv.Logger(GinkgoWriter)))
	DeferCleanup(hh.Close, context.Background())
	Expect(err).NotTo(HaveOccurred())
	return hh
}

var _ = Describe("A harness resumed on its data directory", func() {
	It("faults and heals the clusters it made before, from the private files it keeps for them", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		first := startOn(ctx, dir)
		c, err := first.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(first.Close(ctx)).To(Succeed())

		clusterDir := filepath.Join(dir, "clusters", c.ID)
		info, err := os.Stat(clusterDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o700)))
		entries, err := os.ReadDir(clusterDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).NotTo(BeEmpty())
		for _, e := range entries {
			fi, err := e.Info()
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)), e.Name())
		}

		second := startOn(ctx, dir)
		resumed, ok := second.ClusterByID(c.ID)
		Expect(ok).To(BeTrue(), "the resumed harness knows the cluster")
		Expect(resumed.OfficerPassword).To(Equal(c.OfficerPassword))
		Expect(resumed.TrustAnchorFile).To(BeARegularFile())

		heal, err := second.InjectFault(ctx, faults.UserLockedOut(c.ID))
		Expect(err).NotTo(HaveOccurred())
		report, err := heal(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(report.KMSUserPassword).NotTo(BeEmpty())
		kmsuser, err := resumed.Login(ctx, harness.KMSUser, report.KMSUserPassword)
		Expect(err).NotTo(HaveOccurred(), "the heal's password works on the resumed cluster")
		kmsuser.Close()

		healNet, err := second.Inject(ctx, faults.NetworkErrors(c.ID))
		Expect(err).NotTo(HaveOccurred())
		Expect(healNet(ctx)).To(Succeed())

		restoredID, err := second.RestoreCluster(ctx, c.ID)
		Expect(err).NotTo(HaveOccurred(), "a related cluster from the resumed one's backup")
		Expect(second.Close(ctx)).To(Succeed())
		third := startOn(ctx, dir)
		_, ok = third.ClusterByID(restoredID)
		Expect(ok).To(BeTrue(), "a restored cluster is kept too")
	})

	It("removes the temporary files (PINs, keys) that writes interrupted by a crash left", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		first := startOn(ctx, dir)
		c, err := first.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		Expect(first.Close(ctx)).To(Succeed())

		var stale []string
		for _, d := range []string{dir, filepath.Join(dir, "clusters", c.ID), filepath.Join(dir, "hsms", hsms[0].ID), filepath.Join(dir, "hsms", hsms[1].ID)} {
			f, err := os.CreateTemp(d, ".tmp-*")
			Expect(err).NotTo(HaveOccurred())
			_, err = f.WriteString(`{"userPin":"secret"}`)
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Close()).To(Succeed())
			stale = append(stale, f.Name())
		}

		startOn(ctx, dir)
		for _, f := range stale {
			Expect(f).NotTo(BeAnExistingFile())
		}
	})
})
