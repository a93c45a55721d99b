package kms_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
)

// newStoreOn creates a DISCONNECTED store on the cluster.
func newStoreOn(ctx context.Context, c *harness.Cluster) *string {
	out, err := client().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("ce-" + c.ID),
		CloudHsmClusterId: aws.String(c.ID), TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
	Expect(err).NotTo(HaveOccurred())
	cleanUp(aws.ToString(out.CustomKeyStoreId))
	return out.CustomKeyStoreId
}

// connectFails connects the store and returns the error code it fails with.
func connectFails(ctx context.Context, store *string) types.ConnectionErrorCodeType {
	_, err := client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store})
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(store)) }).Should(Equal(types.ConnectionStateTypeFailed))
	out, err := client().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: store})
	Expect(err).NotTo(HaveOccurred())
	return out.CustomKeyStores[0].ConnectionErrorCode
}

var _ = Describe("Connection error codes from real conditions", Label("kind:fault"), func() {
	It("INSUFFICIENT_CLOUDHSM_HSMS when every HSM of the cluster was deleted", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		store := newStoreOn(ctx, c)
		deleteAllHSMs(ctx, c)
		Expect(connectFails(ctx, store)).To(Equal(types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms))
	})

	It("CLUSTER_NOT_FOUND when the cluster was deleted", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		store := newStoreOn(ctx, c)
		deleteAllHSMs(ctx, c)
		_, err = h.CloudHSMClient().DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(c.ID)})
		Expect(err).NotTo(HaveOccurred())
		Expect(connectFails(ctx, store)).To(Equal(types.ConnectionErrorCodeTypeClusterNotFound))
	})

	It("NETWORK_ERRORS when no HSM answers", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		store := newStoreOn(ctx, c)
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		for _, hsm := range hsms {
			Expect(h.Processes().Kill(hsm.ID)).To(Succeed())
		}
		Expect(connectFails(ctx, store)).To(Equal(types.ConnectionErrorCodeTypeNetworkErrors))
	})

	It("USER_NOT_FOUND when kmsuser is missing, then USER_LOCKED_OUT after five bad passwords", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		store := newStoreOn(ctx, c)
		officer, err := c.Login(ctx, "admin", c.OfficerPassword)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(officer.Close)
		Expect(officer.DeleteUser(ctx, harness.KMSUser)).To(Succeed())
		Expect(connectFails(ctx, store)).To(Equal(types.ConnectionErrorCodeTypeUserNotFound))

		Expect(officer.CreateUser(ctx, harness.KMSUser, "CU", "a-new-password")).To(Succeed())
		codes := []types.ConnectionErrorCodeType{}
		for range 5 {
			_, err := client().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: store})
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(store)) }).Should(Equal(types.ConnectionStateTypeDisconnected))
			codes = append(codes, connectFails(ctx, store))
		}
		Expect(codes).To(Equal([]types.ConnectionErrorCodeType{
			types.ConnectionErrorCodeTypeInvalidCredentials, types.ConnectionErrorCodeTypeInvalidCredentials,
			types.ConnectionErrorCodeTypeInvalidCredentials, types.ConnectionErrorCodeTypeInvalidCredentials,
			types.ConnectionErrorCodeTypeUserLockedOut,
		}), "the fifth wrong password locks kmsuser on the HSMs")
	})

	It("refuses synchronously to connect to a cluster that is not ACTIVE, and to create on a one-HSM cluster", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx, harness.WithHSMs(1))
		Expect(err).NotTo(HaveOccurred())
		_, err = client().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("one-" + c.ID),
			CloudHsmClusterId: aws.String(c.ID), TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
		Expect(code(err)).To(Equal("CloudHsmClusterInvalidConfigurationException"))

		out, err := h.CloudHSMClient().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: freshSubnets()})
		Expect(err).NotTo(HaveOccurred())
		_, err = client().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("new-" + aws.ToString(out.Cluster.ClusterId)),
			CloudHsmClusterId: out.Cluster.ClusterId, TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
		Expect(code(err)).To(Equal("CloudHsmClusterNotActiveException"))
	})
})

// freshSubnets adds a subnet of its own in each zone of the harness's
// default VPC, for a cluster the spec makes through the CloudHSMv2 API: an
// existing subnet may belong to a cluster whose subnet-not-found fault a
// parallel spec is about to inject (it deletes that subnet).
func freshSubnets() []string {
	var ids []string
	zones := map[string]bool{}
	for _, s := range h.ControlPlane().Subnets() {
		if s.VPCID == h.ControlPlane().DefaultVPC() && !zones[s.AvailabilityZone] {
			zones[s.AvailabilityZone] = true
			sub, err := h.ControlPlane().AddSubnet(h.ControlPlane().DefaultVPC(), s.AvailabilityZone, 26)
			Expect(err).NotTo(HaveOccurred())
			ids = append(ids, sub.ID)
		}
	}
	return ids
}

// deleteAllHSMs deletes every HSM of the cluster through the CloudHSMv2 API.
func deleteAllHSMs(ctx context.Context, c *harness.Cluster) {
	hsms, err := c.HSMs()
	Expect(err).NotTo(HaveOccurred())
	for _, hsm := range hsms {
		Expect(c.DeleteHSM(ctx, hsm.ID)).To(Succeed())
	}
}
