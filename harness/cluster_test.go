package harness_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

var _ = Describe("A ready cluster", func() {
	It("is ACTIVE with two HSMs in two zones, initialised and without a CSR", func(ctx SpecContext) {
		c := newCluster()
		out, err := h.CloudHSMClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {c.ID}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Clusters).To(HaveLen(1))
		cl := out.Clusters[0]
		Expect(string(cl.State)).To(Equal(cloudhsm.ClusterActive))
		Expect(cl.Hsms).To(HaveLen(2))
		Expect(aws.ToString(cl.Hsms[0].AvailabilityZone)).NotTo(Equal(aws.ToString(cl.Hsms[1].AvailabilityZone)))
		for _, hsm := range cl.Hsms {
			Expect(string(hsm.State)).To(Equal(cloudhsm.HSMActive))
			Expect(aws.ToString(hsm.StateMessage)).To(Equal("HSM created."))
		}
		Expect(aws.ToString(cl.Certificates.ClusterCsr)).To(BeEmpty())
		Expect(aws.ToString(cl.Certificates.ClusterCertificate)).To(ContainSubstring("BEGIN CERTIFICATE"))
		Expect(aws.ToString(cl.PreCoPassword)).To(BeEmpty())
		Expect(c.TrustAnchorFile).To(BeARegularFile())
	})

	It("lets kmsuser use a key made through HSM 1 on HSM 2", func(ctx SpecContext) {
		c := newCluster()
		kms, err := c.Login(ctx, harness.KMSUser, c.KMSUserPassword)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kms.Close)
		conns := kms.Conns()
		Expect(conns).To(HaveLen(2))
		id, err := kms.GenerateKey(ctx, "arn:aws:kms:us-east-1:111122223333:key/synced", 2)
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := conns[0].Encrypt(ctx, id, []byte("through HSM 1"), []byte("aad"))
		Expect(err).NotTo(HaveOccurred())
		pt, err := conns[1].Decrypt(ctx, id, iv, ct, []byte("aad"))
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("through HSM 1")))
	})

	It("gives an HSM added later every key, and loses none when an HSM is deleted", func(ctx SpecContext) {
		c := newCluster()
		kms, err := c.Login(ctx, harness.KMSUser, c.KMSUserPassword)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kms.Close)
		id, err := kms.GenerateKey(ctx, "older", 2)
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := kms.Encrypt(ctx, id, []byte("old"), nil)
		Expect(err).NotTo(HaveOccurred())
		kms.Close()

		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		added, err := c.AddHSM(ctx, h.Region()+"c")
		Expect(err).NotTo(HaveOccurred())
		for _, old := range hsms {
			Expect(c.DeleteHSM(ctx, old.ID)).To(Succeed())
		}
		remaining, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		Expect(remaining).To(ConsistOf(HaveField("ID", added)))

		conn, err := c.Dial(ctx, added)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		Expect(conn.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())
		pt, err := conn.Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("old")))
	})

	It("locks kmsuser out on one HSM after five bad logins, and an officer's reset unlocks it", func(ctx SpecContext) {
		c := newCluster()
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		conn, err := c.Dial(ctx, hsms[0].ID)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		for range users.DefaultLockoutThreshold {
			Expect(conn.Login(ctx, harness.KMSUser, "not-the-password")).NotTo(Succeed())
		}
		Expect(conn.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(MatchError(hsmwire.ErrLockedOut))
		other, err := c.Dial(ctx, hsms[1].ID)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(other.Close)
		Expect(other.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())

		officer, err := c.Login(ctx, cloudhsm.InitialOfficer, c.OfficerPassword)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(officer.Close)
		Expect(officer.ChangePassword(ctx, harness.KMSUser, "new-kmsuser-pw")).To(Succeed())
		Expect(conn.Login(ctx, harness.KMSUser, "new-kmsuser-pw")).To(Succeed())
	})

	It("has its keys back after a node is stopped and restarted", func(ctx SpecContext) {
		c := newCluster()
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		target := hsms[0].ID
		conn, err := c.Dial(ctx, target)
		Expect(err).NotTo(HaveOccurred())
		Expect(conn.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())
		id, err := conn.GenerateKey(ctx, "survivor")
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := conn.Encrypt(ctx, id, []byte("persisted"), nil)
		Expect(err).NotTo(HaveOccurred())

		Expect(h.Processes().Stop(ctx, target)).To(Succeed())
		Eventually(conn.Done()).Should(BeClosed())
		Expect(h.Processes().Running(target)).To(BeFalse())
		_, err = h.Processes().Restart(ctx, target)
		Expect(err).NotTo(HaveOccurred())

		again, err := c.Dial(ctx, target)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(again.Close)
		Expect(again.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())
		pt, err := again.Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("persisted")))
	})

	It("stops the node process when its HSM is deleted", func(ctx SpecContext) {
		c := newCluster()
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		pid, err := h.Processes().PID(hsms[1].ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.DeleteHSM(context.Background(), hsms[1].ID)).To(Succeed())
		Eventually(func() bool { return alive(pid) }).Should(BeFalse())
		Expect(h.Processes().HSMs()).NotTo(ContainElement(hsms[1].ID))
	})
})
