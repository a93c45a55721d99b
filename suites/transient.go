package suites

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
)

// storeOp is one operation on a store, for the state table.
type storeOp struct {
	name string
	call func(ctx context.Context, c *kms.Client, storeID *string) error
}

var (
	opConnect = storeOp{"ConnectCustomKeyStore", func(ctx context.Context, c *kms.Client, id *string) error {
		_, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
		return err
	}}
	opDisconnect = storeOp{"DisconnectCustomKeyStore", func(ctx context.Context, c *kms.Client, id *string) error {
		_, err := c.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: id})
		return err
	}}
	opUpdatePassword = storeOp{"UpdateCustomKeyStore(KeyStorePassword)", func(ctx context.Context, c *kms.Client, id *string) error {
		_, err := c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: aws.String("some-password")})
		return err
	}}
	opDelete = storeOp{"DeleteCustomKeyStore", func(ctx context.Context, c *kms.Client, id *string) error {
		_, err := c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
		return err
	}}
	opCreateKey = storeOp{"CreateKey", func(ctx context.Context, c *kms.Client, id *string) error {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: id})
		return err
	}}
	opGenerateRandom = storeOp{"GenerateRandom", func(ctx context.Context, c *kms.Client, id *string) error {
		_, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8), CustomKeyStoreId: id})
		return err
	}}
)

func transientStateSpecs(s *suite) {
	ginkgo.Describe("the transient connection states", ginkgo.Label("api:ConnectCustomKeyStore", "api:DisconnectCustomKeyStore"), func() {
		ruleIt("CKS-CONNECT-003", func(ctx ginkgo.SpecContext) {
			needHolds(ctx, s)
			st := newConnectingStore(ctx, s)
			c := s.client(true)
			held := holdNext(ctx, s, st.ID, control.TransitionConnect)
			gomega.Expect(opConnect.call(ctx, c, aws.String(st.ID))).To(gomega.Succeed())
			held.holding(ctx)
			gomega.Expect(describeStore(ctx, s, st.ID).ConnectionState).To(gomega.Equal(types.ConnectionStateTypeConnecting), "the state of a store held in its connect")
			for _, op := range []storeOp{opUpdatePassword, opDelete, opCreateKey, opGenerateRandom} {
				gomega.Expect(op.call(ctx, c, aws.String(st.ID))).To(failWith("CustomKeyStoreInvalidStateException"), "%s while CONNECTING", op.name)
			}
			gomega.Expect(opDisconnect.call(ctx, c, aws.String(st.ID))).To(gomega.Succeed(), "a connect in progress can be abandoned")
			waitForState(ctx, s, st.ID, types.ConnectionStateTypeDisconnected)
		})

		ruleIt("CKS-DISCONNECT-002", func(ctx ginkgo.SpecContext) {
			needHolds(ctx, s)
			st := connectedStore(ctx, s)
			c := s.client(true)
			held := holdNext(ctx, s, st.ID, control.TransitionDisconnect)
			gomega.Expect(opDisconnect.call(ctx, c, aws.String(st.ID))).To(gomega.Succeed())
			held.holding(ctx)
			gomega.Expect(describeStore(ctx, s, st.ID).ConnectionState).To(gomega.Equal(types.ConnectionStateTypeDisconnecting), "the state of a store held in its disconnect")
			for _, op := range []storeOp{opConnect, opDisconnect, opUpdatePassword, opDelete, opCreateKey, opGenerateRandom} {
				gomega.Expect(op.call(ctx, c, aws.String(st.ID))).To(failWith("CustomKeyStoreInvalidStateException"), "%s while DISCONNECTING", op.name)
			}
			held.release(ctx)
			waitForState(ctx, s, st.ID, types.ConnectionStateTypeDisconnected)
		})
	})
}
