package kms_test

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	kmsfront "github.com/kmsharness/kmsharness/kms"
)

// holdOn arms a hold, released after the spec.
func holdOn(id string, t kmsfront.Transition) *kmsfront.Hold {
	hold, err := h.KMS().HoldTransition(id, t)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(hold.Release)
	return hold
}

// waitHeld waits until the hold holds its store.
func waitHeld(ctx context.Context, hold *kmsfront.Hold) {
	bounded, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	Expect(hold.Wait(bounded)).To(Succeed())
}

var _ = Describe("Holds on transient states", func() {
	It("keep a store CONNECTING until released, then the connect goes on", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "held-connect-"+c.ID)
		hold := holdOn(id, kmsfront.TransitionConnect)
		Expect(hold.ID()).To(MatchRegexp(`^hold-[0-9a-f]{16}$`))
		Expect(hold.StoreID()).To(Equal(id))
		Expect(hold.Holding()).To(BeFalse(), "armed, not holding yet")
		Expect(h.KMS().Holds()).To(ContainElement(hold))
		found, ok := h.KMS().LookupHold(hold.ID())
		Expect(ok).To(BeTrue())
		Expect(found).To(BeIdenticalTo(hold))

		Expect(connect(ctx, id)).To(Succeed())
		waitHeld(ctx, hold)
		Expect(hold.Holding()).To(BeTrue())
		Expect(storeState(ctx, id)).To(Equal(types.ConnectionStateTypeConnecting))
		Expect(h.KMS().SessionHSMs(id)).To(BeEmpty(), "the connect's work has not started")
		for _, op := range []func() error{
			func() error { return deleteStore(ctx, id) },
			func() error { return rename(ctx, id, "other-name") },
		} {
			Expect(code(op())).To(Equal("CustomKeyStoreInvalidStateException"))
		}
		Expect(connect(ctx, id)).To(Succeed(), "Connect while CONNECTING is accepted")
		Expect(storeState(ctx, id)).To(Equal(types.ConnectionStateTypeConnecting))

		hold.Release()
		hold.Release()
		Expect(hold.Holding()).To(BeFalse())
		Expect(hold.Ended()).To(BeTrue())
		settlesConnected(ctx, id)
		Expect(h.KMS().Holds()).NotTo(ContainElement(hold))
		_, ok = h.KMS().LookupHold(hold.ID())
		Expect(ok).To(BeTrue(), "an ended hold can still be looked up")
	})

	It("keep a store DISCONNECTING until released, then it settles DISCONNECTED", func(ctx SpecContext) {
		_, id := connectedStore(ctx)
		hold := holdOn(id, kmsfront.TransitionDisconnect)
		Expect(disconnect(ctx, id)).To(Succeed())
		waitHeld(ctx, hold)
		Expect(storeState(ctx, id)).To(Equal(types.ConnectionStateTypeDisconnecting))
		Expect(code(connect(ctx, id))).To(Equal("CustomKeyStoreInvalidStateException"))
		Expect(code(disconnect(ctx, id))).To(Equal("CustomKeyStoreInvalidStateException"))
		Expect(storeState(ctx, id)).To(Equal(types.ConnectionStateTypeDisconnecting))
		hold.Release()
		waitForState(ctx, id, types.ConnectionStateTypeDisconnected)
	})

	It("end when a disconnect abandons the held connect", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "held-abandoned-"+c.ID)
		hold := holdOn(id, kmsfront.TransitionConnect)
		Expect(connect(ctx, id)).To(Succeed())
		waitHeld(ctx, hold)
		Expect(disconnect(ctx, id)).To(Succeed())
		Eventually(hold.Ended).Should(BeTrue())
		Expect(hold.Holding()).To(BeFalse())
		waitForState(ctx, id, types.ConnectionStateTypeDisconnected)
		Expect(connect(ctx, id)).To(Succeed(), "the hold was consumed: the next connect is not held")
		settlesConnected(ctx, id)
	})

	It("end when their store is deleted, never having held it", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "held-deleted-"+c.ID)
		hold := holdOn(id, kmsfront.TransitionConnect)
		Expect(deleteStore(ctx, id)).To(Succeed())
		Expect(hold.Ended()).To(BeTrue())
		Expect(hold.Wait(ctx)).To(MatchError(kmsfront.ErrHoldEnded))
	})

	It("are refused for an unknown store, an unknown transition and a second hold on one transition", func(ctx SpecContext) {
		_, err := h.KMS().HoldTransition("cks-0123456789abcdef0", kmsfront.TransitionConnect)
		Expect(err).To(MatchError(kmsfront.ErrStoreNotFound))
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "held-twice-"+c.ID)
		_, err = h.KMS().HoldTransition(id, "reconnect")
		Expect(err).To(MatchError(kmsfront.ErrUnknownTransition))
		first := holdOn(id, kmsfront.TransitionConnect)
		_, err = h.KMS().HoldTransition(id, kmsfront.TransitionConnect)
		Expect(err).To(MatchError(kmsfront.ErrHoldExists))
		holdOn(id, kmsfront.TransitionDisconnect)
		first.Release()
		holdOn(id, kmsfront.TransitionConnect)
	})

	It("end when the service closes, and Wait gives up with its context", func(ctx SpecContext) {
		own, err := harness.Start(ctx, harness.WithLogger(testenv.Logger(GinkgoWriter)))
		DeferCleanup(own.Close, context.Background())
		Expect(err).NotTo(HaveOccurred())
		c, err := own.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		ownClient := kms.New(kms.Options{Region: own.Region(), BaseEndpoint: aws.String(own.KMSEndpoint()), Credentials: client().Options().Credentials})
		out, err := ownClient.CreateCustomKeyStore(ctx, createInput(c, "closing"))
		Expect(err).NotTo(HaveOccurred())
		hold, err := own.KMS().HoldTransition(aws.ToString(out.CustomKeyStoreId), kmsfront.TransitionConnect)
		Expect(err).NotTo(HaveOccurred())
		short, cancel := context.WithCancel(ctx)
		cancel()
		Expect(errors.Is(hold.Wait(short), context.Canceled)).To(BeTrue())
		_, err = ownClient.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		waitHeld(ctx, hold)
		Expect(own.Close(ctx)).To(Succeed())
		Expect(hold.Ended()).To(BeTrue())
	})
})
