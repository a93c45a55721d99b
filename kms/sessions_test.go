package kms_test

import (
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/faults"
)

var _ = Describe("A store that connected without one of its HSMs", Label("kind:fault"), func() {
	It("logs in there when the HSM comes back, and never locks kmsuser out on it", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		down, up := hsms[0].ID, hsms[1].ID
		heal, err := h.Inject(ctx, faults.NodeKilled(c.ID, down))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(heal)
		id := createStore(ctx, c, "partial-"+c.ID)
		Expect(connect(ctx, id)).To(Succeed())
		settlesConnected(ctx, id)
		Expect(h.KMS().SessionHSMs(id)).To(ConsistOf(up))

		Expect(heal(ctx)).To(Succeed())
		Eventually(func() []string { return h.KMS().SessionHSMs(id) }).Should(ConsistOf(down, up))
		key := hsmKey(ctx, id)
		for range 4 {
			_, err := client().Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("on both")})
			Expect(err).NotTo(HaveOccurred())
		}

		// kmsuser still logs in on the HSM that was down once KMS lets go.
		Expect(disconnect(ctx, id)).To(Succeed())
		waitForState(ctx, id, types.ConnectionStateTypeDisconnected)
		Expect(connect(ctx, id)).To(Succeed())
		settlesConnected(ctx, id)
		Expect(h.KMS().SessionHSMs(id)).To(ConsistOf(down, up))
	})
})
