package kms_test

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/faults"
)

// repair applies a heal's report as AWS documents: a new password or a new
// related cluster goes to UpdateCustomKeyStore (the store is DISCONNECTED).
func repair(ctx context.Context, store *string, report faults.Report) {
	in := &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: store}
	if report.KMSUserPassword != "" {
		in.KeyStorePassword = aws.String(report.KMSUserPassword)
	}
	if report.ClusterID != "" {
		in.CloudHsmClusterId = aws.String(report.ClusterID)
	}
	if in.KeyStorePassword == nil && in.CloudHsmClusterId == nil {
		return
	}
	_, err := client().UpdateCustomKeyStore(ctx, in)
	Expect(err).NotTo(HaveOccurred(), "UpdateCustomKeyStore with what the heal reported")
}

var _ = Describe("Every connection fault, by its real mechanism", Label("kind:fault"), func() {
	DescribeTable("fails the connect with its code, and its documented repair brings the store back",
		func(ctx SpecContext, name string, code types.ConnectionErrorCodeType, connectFirst bool) {
			c, err := h.NewCluster(ctx)
			Expect(err).NotTo(HaveOccurred())
			store := newStoreOn(ctx, c)
			if connectFirst {
				// The network faults act on KMS's connections to the HSMs.
				_, err := client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store})
				Expect(err).NotTo(HaveOccurred())
				Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(store)) }).Should(Equal(types.ConnectionStateTypeConnected))
				_, err = client().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: store})
				Expect(err).NotTo(HaveOccurred())
				Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(store)) }).Should(Equal(types.ConnectionStateTypeDisconnected))
			}
			f, err := faults.Lookup(name, faults.Scope{ClusterID: c.ID})
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Code()).To(Equal(string(code)))
			injected := time.Now()
			heal, err := h.InjectFault(ctx, f)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx context.Context) { _, _ = heal(ctx) })

			Expect(connectFails(ctx, store)).To(Equal(code))
			GinkgoWriter.Printf("%s: inject to FAILED in %s\n", name, time.Since(injected).Round(time.Millisecond))
			_, err = client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store})
			Expect(errCode(err)).To(Equal("CustomKeyStoreInvalidStateException"), "Connect on FAILED")

			_, err = client().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: store})
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(store)) }).Should(Equal(types.ConnectionStateTypeDisconnected))
			report, err := heal(ctx)
			Expect(err).NotTo(HaveOccurred())
			repair(ctx, store, report)
			_, err = client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store})
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(store)) }).Should(Equal(types.ConnectionStateTypeConnected))
		},
		Entry(nil, "user-locked-out", types.ConnectionErrorCodeTypeUserLockedOut, false),
		Entry(nil, "invalid-credentials", types.ConnectionErrorCodeTypeInvalidCredentials, false),
		Entry(nil, "cluster-not-found", types.ConnectionErrorCodeTypeClusterNotFound, false),
		Entry(nil, "insufficient-cloudhsm-hsms", types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms, false),
		Entry(nil, "network-errors", types.ConnectionErrorCodeTypeNetworkErrors, true),
		Entry(nil, "internal-error", types.ConnectionErrorCodeTypeInternalError, false),
		Entry(nil, "user-not-found", types.ConnectionErrorCodeTypeUserNotFound, false),
		Entry(nil, "user-logged-in", types.ConnectionErrorCodeTypeUserLoggedIn, false),
		Entry(nil, "subnet-not-found", types.ConnectionErrorCodeTypeSubnetNotFound, false),
		Entry(nil, "insufficient-free-addresses-in-subnet", types.ConnectionErrorCodeTypeInsufficientFreeAddressesInSubnet, false),
	)
})
