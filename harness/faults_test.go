package harness_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/harness"
)

func kmsClient() *kms.Client {
	return kms.New(kms.Options{Region: h.Region(), BaseEndpoint: aws.String(h.KMSEndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
}

// storeOn creates a DISCONNECTED store on the cluster, deleted after the
// spec (disconnected first if need be).
func storeOn(ctx context.Context, c *harness.Cluster) *string {
	out, err := kmsClient().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("faults-" + c.ID),
		CloudHsmClusterId: aws.String(c.ID), TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		_, _ = kmsClient().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Eventually(func() types.ConnectionStateType { return describeStore(ctx, out.CustomKeyStoreId).ConnectionState }).
			Should(Equal(types.ConnectionStateTypeDisconnected))
		_, err := kmsClient().DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
	})
	return out.CustomKeyStoreId
}

func describeStore(ctx context.Context, id *string) types.CustomKeyStoresListEntry {
	out, err := kmsClient().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
	Expect(err).NotTo(HaveOccurred())
	return out.CustomKeyStores[0]
}

// settles connects the store and returns the state it settles in, with its
// error code.
func settles(ctx context.Context, id *string) string {
	_, err := kmsClient().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
	Expect(err).NotTo(HaveOccurred())
	var st types.CustomKeyStoresListEntry
	Eventually(func() types.ConnectionStateType {
		st = describeStore(ctx, id)
		return st.ConnectionState
	}).Should(BeElementOf(types.ConnectionStateTypeConnected, types.ConnectionStateTypeFailed))
	return fmt.Sprintf("%s %s", st.ConnectionState, st.ConnectionErrorCode)
}

var _ = Describe("Faults on a cluster in any state", Label("kind:fault"), func() {
	It("network-errors on a fresh cluster, before any store connected, fails the first connect with NETWORK_ERRORS", func(ctx SpecContext) {
		c := newCluster()
		heal, err := h.Inject(ctx, faults.NetworkErrors(c.ID))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(heal)
		store := storeOn(ctx, c)
		Expect(settles(ctx, store)).To(Equal("FAILED NETWORK_ERRORS"))

		Expect(heal(ctx)).To(Succeed())
		_, err = kmsClient().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: store})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() types.ConnectionStateType { return describeStore(ctx, store).ConnectionState }).
			Should(Equal(types.ConnectionStateTypeDisconnected))
		Expect(settles(ctx, store)).To(Equal("CONNECTED "))
	})

	It("a network fault on one HSM of a fresh cluster is in place on KMS's first connection to it", func(ctx SpecContext) {
		c := newCluster()
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		cut, kept := hsms[0].ID, hsms[1].ID
		heal, err := h.Inject(ctx, faults.Network(c.ID, cut, faults.ResetPeer{}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(heal)
		store := storeOn(ctx, c)
		Expect(settles(ctx, store)).To(Equal("CONNECTED "))
		Expect(h.KMS().SessionHSMs(aws.ToString(store))).To(ConsistOf(kept), "KMS reached only the HSM without the fault")
		Expect(heal(ctx)).To(Succeed())
		Eventually(func() []string { return h.KMS().SessionHSMs(aws.ToString(store)) }).Should(ConsistOf(cut, kept),
			"KMS logs in on the HSM once the fault is healed")
	})

	It("answers a requester's mistakes with typed errors, never a failure of the harness", func(ctx SpecContext) {
		_, err := h.Inject(ctx, faults.UserLockedOut("cluster-aaaaaaaaaaa"))
		Expect(err).To(MatchError(faults.ErrUnknownCluster))

		c := newCluster(harness.WithHSMs(1))
		_, err = h.Inject(ctx, faults.NodeKilled(c.ID, "hsm-aaaaaaaaaaa"))
		Expect(err).To(MatchError(faults.ErrUnknownHSM))

		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		heal, err := h.Inject(ctx, faults.NodeKilled(c.ID, hsms[0].ID))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(heal)
		_, err = h.Inject(ctx, faults.NodeKilled(c.ID, hsms[0].ID))
		Expect(err).To(MatchError(faults.ErrNotInjectable), "a node killed already")
		_, err = h.Inject(ctx, faults.NodeHung(c.ID, hsms[0].ID))
		Expect(err).To(MatchError(faults.ErrNotInjectable), "a node that does not run cannot hang")
		Expect(heal(ctx)).To(Succeed())

		healHSMs, err := h.Inject(ctx, faults.InsufficientHSMs(c.ID))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(healHSMs)
		for _, f := range []faults.Fault{faults.UserLockedOut(c.ID), faults.UserNotFound(c.ID), faults.SubnetNotFound(c.ID)} {
			_, err = h.Inject(ctx, f)
			Expect(err).To(MatchError(faults.ErrNotInjectable), "%s on a cluster without HSMs", f.Name())
		}
	})
})
