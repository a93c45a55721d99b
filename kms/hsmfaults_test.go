package kms_test

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/faults"
)

// These specs drive the HSM and network faults through the Go API
// (h.Inject, healed by DeferCleanup), on a CONNECTED store.
var _ = Describe("HSM and network faults after CONNECTED", Label("kind:fault"), func() {
	var hsms []string
	var clusterID, storeID string
	var key *types.KeyMetadata
	BeforeEach(func(ctx SpecContext) {
		c, store := connectedStore(ctx)
		clusterID, storeID = c.ID, store
		key = hsmKey(ctx, storeID)
		list, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		hsms = nil
		for _, hsm := range list {
			hsms = append(hsms, hsm.ID)
		}
	})
	encrypt := func(ctx context.Context, size int) (time.Duration, error) {
		start := time.Now()
		_, err := client().Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: make([]byte, size)})
		return time.Since(start), err
	}
	lookup := func(name, hsmID string) faults.Fault {
		f, err := faults.Lookup(name, faults.Scope{ClusterID: clusterID, HSMID: hsmID})
		Expect(err).NotTo(HaveOccurred())
		return f
	}
	inject := func(ctx context.Context, f faults.Fault) {
		heal, err := h.Inject(ctx, f)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(heal)
	}

	It("node-hung: crypto fails over to the other HSM once the hung one times out", func(ctx SpecContext) {
		inject(ctx, lookup("node-hung", hsms[0]))
		for range 3 {
			took, err := encrypt(ctx, 64)
			Expect(err).NotTo(HaveOccurred())
			Expect(took).To(BeNumerically("<", 5*time.Second))
		}
	})

	It("node-deleted: crypto goes on, and the heal gives the cluster two ACTIVE HSMs again", func(ctx SpecContext) {
		f := lookup("node-deleted", hsms[1])
		heal, err := h.InjectFault(ctx, f)
		Expect(err).NotTo(HaveOccurred())
		_, err = encrypt(ctx, 64)
		Expect(err).NotTo(HaveOccurred())
		_, err = heal(ctx)
		Expect(err).NotTo(HaveOccurred())
		c, _ := h.ClusterByID(clusterID)
		list, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(HaveLen(2))
		Expect(list).To(HaveEach(HaveField("State", "ACTIVE")))
	})

	It("slow-node and network-latency add latency on the way to the HSMs", func(ctx SpecContext) {
		heal, err := h.InjectFault(ctx, lookup("network-latency", ""))
		Expect(err).NotTo(HaveOccurred())
		took, err := encrypt(ctx, 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(took).To(BeNumerically(">=", 800*time.Millisecond), "500 ms ± 100 ms each way")
		_, err = heal(ctx)
		Expect(err).NotTo(HaveOccurred())

		inject(ctx, faults.SlowNode(clusterID, hsms[0], 100*time.Millisecond))
		inject(ctx, lookup("slow-node", hsms[1]))
		_, err = encrypt(ctx, 64)
		Expect(err).NotTo(HaveOccurred())
	})

	It("network-reset on one HSM: crypto fails over to the other", func(ctx SpecContext) {
		inject(ctx, lookup("network-reset", hsms[0]))
		for range 3 {
			_, err := encrypt(ctx, 64)
			Expect(err).NotTo(HaveOccurred())
		}
	})

	It("network-bandwidth: small requests pass slowly, large ones time out with KMSInvalidStateException", func(ctx SpecContext) {
		inject(ctx, lookup("network-bandwidth", ""))
		_, err := encrypt(ctx, 16)
		Expect(err).NotTo(HaveOccurred())
		took, err := encrypt(ctx, 4096)
		Expect(errCode(err)).To(Equal("KMSInvalidStateException"))
		Expect(took).To(BeNumerically("<", 10*time.Second), "promptly")
	})

	It("node-killed: the heal restarts the node, and KMS logs in there again without a reconnect", func(ctx SpecContext) {
		heal, err := h.InjectFault(ctx, lookup("node-killed", hsms[0]))
		Expect(err).NotTo(HaveOccurred())
		_, err = encrypt(ctx, 64)
		Expect(err).NotTo(HaveOccurred())
		_, err = heal(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Nodes().Running(hsms[0])).To(BeTrue())
		// Once KMS is back on the restarted HSM, losing the other one is fine.
		Eventually(func() bool { return storeReaches(storeID, hsms[0]) }).Should(BeTrue())
		Expect(h.Nodes().Kill(hsms[1])).To(Succeed())
		_, err = encrypt(ctx, 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(storeState(ctx, storeID)).To(Equal(types.ConnectionStateTypeConnected))
	})

	It("node-killed: CreateKey fails rather than make a key that lives on one HSM only", func(ctx SpecContext) {
		heal, err := h.InjectFault(ctx, lookup("node-killed", hsms[0]))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool { return storeReaches(storeID, hsms[0]) }).Should(BeFalse())
		// The cluster still has two ACTIVE HSMs; KMS reaches one of them.
		_, err = client().CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(storeID)})
		Expect(errCode(err)).To(Equal("KMSInternalException"), "a key on one HSM is lost with it")

		_, err = heal(ctx)
		Expect(err).NotTo(HaveOccurred())
		// Right after the heal KMS may not have its session back yet; a
		// CreateKey then fails too, and succeeds once the key reaches both.
		var made *types.KeyMetadata
		Eventually(func(ctx context.Context) error {
			out, err := client().CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(storeID)})
			if err == nil {
				made = out.KeyMetadata
			}
			return err
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(h.Nodes().Kill(hsms[1])).To(Succeed())
		_, err = client().Encrypt(ctx, &kms.EncryptInput{KeyId: made.KeyId, Plaintext: []byte("on the HSM that is left")})
		Expect(err).NotTo(HaveOccurred())
	})
})

// errCode is code under a name that spec parameters do not shadow.
var errCode = code

// storeReaches reports whether KMS holds a session with the HSM for the store.
func storeReaches(storeID, hsmID string) bool {
	return slices.Contains(h.KMS().SessionHSMs(storeID), hsmID)
}
