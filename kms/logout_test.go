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
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	kmsfront "github.com/kmsharness/kmsharness/kms"
)

// A connect's kmsuser logins must have ended on every HSM when the store
// leaves the connect behind: an HSM drops a login when it processes the
// connection's end, which a slow network or a busy HSM delays past the
// instant KMS hangs up, and the store's next connect would then be refused
// USER_LOGGED_IN because of the store's own earlier login. With latency
// between KMS and the HSMs, only a logout KMS waits for ends the login by
// the time the store is DISCONNECTED.
var _ = Describe("The kmsuser logins of a connect", Label("kind:fault"), func() {
	const latency = time.Second
	var (
		own *harness.Harness
		oc  *kms.Client
	)
	BeforeEach(func(ctx SpecContext) {
		var err error
		own, err = harness.Start(ctx, harness.WithLogger(testenv.Logger(GinkgoWriter)),
			harness.WithKMSOptions(kmsfront.WithStepHook(gates.hook), kmsfront.WithHSMTimeout(10*latency),
				kmsfront.WithDisconnectDelay(time.Millisecond)))
		DeferCleanup(own.Close, context.Background())
		Expect(err).NotTo(HaveOccurred())
		oc = kms.New(kms.Options{Region: own.Region(), BaseEndpoint: aws.String(own.KMSEndpoint()), Credentials: client().Options().Credentials})
	})

	describe := func(ctx context.Context, id *string) types.CustomKeyStoresListEntry {
		out, err := oc.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		Expect(err).NotTo(HaveOccurred())
		return out.CustomKeyStores[0]
	}
	inState := func(ctx context.Context, id *string, state types.ConnectionStateType) {
		Eventually(func() types.ConnectionStateType { return describe(ctx, id).ConnectionState }).Should(Equal(state))
	}
	// noKMSUserLogin checks, through the officer's own connections that
	// bypass the latency, that no HSM counts a kmsuser login.
	noKMSUserLogin := func(ctx context.Context, c *harness.Cluster) {
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		for _, hsm := range hsms {
			officer, err := c.Dial(ctx, hsm.ID)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(officer.Close)
			Expect(officer.Login(ctx, "admin", c.OfficerPassword)).To(Succeed())
			users, err := officer.ListUsers(ctx)
			Expect(err).NotTo(HaveOccurred())
			for _, u := range users {
				if u.Name == faults.KMSUser {
					Expect(u.Sessions).To(BeZero(), "kmsuser's logins on %s", hsm.ID)
				}
			}
		}
	}

	DescribeTable("have ended when the store is DISCONNECTED, and the next connect logs in",
		func(ctx SpecContext, step kmsfront.Step) {
			c, err := own.NewCluster(ctx)
			Expect(err).NotTo(HaveOccurred())
			out, err := oc.CreateCustomKeyStore(ctx, createInput(c, "logins-"+c.ID))
			Expect(err).NotTo(HaveOccurred())
			id := out.CustomKeyStoreId
			var g *gate
			if step != "" {
				g = gates.hold(step, *id)
			}
			_, err = oc.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
			Expect(err).NotTo(HaveOccurred())
			if g != nil {
				g.wait(1)
			} else {
				inState(ctx, id, types.ConnectionStateTypeConnected)
			}

			heal, err := own.Inject(ctx, faults.Network(c.ID, "", faults.Latency{Latency: latency}))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(heal)
			_, err = oc.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: id})
			Expect(err).NotTo(HaveOccurred())
			if g != nil {
				g.release()
			}
			inState(ctx, id, types.ConnectionStateTypeDisconnected)
			noKMSUserLogin(ctx, c)

			Expect(heal(ctx)).To(Succeed())
			_, err = oc.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
			Expect(err).NotTo(HaveOccurred())
			inState(ctx, id, types.ConnectionStateTypeConnected)
		},
		Entry("a connect that completed", kmsfront.Step("")),
		Entry("a connect abandoned after logging in", kmsfront.StepConnectLoggedIn),
		Entry("a connect abandoned after the first HSM's password changed", kmsfront.StepRotationHSMChanged),
		Entry("a connect abandoned after every HSM's password changed", kmsfront.StepRotationDone),
	)

	It("have ended when a connect that logged in on some HSMs is FAILED", func(ctx SpecContext) {
		c, err := own.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		out, err := oc.CreateCustomKeyStore(ctx, createInput(c, "failed-logins-"+c.ID))
		Expect(err).NotTo(HaveOccurred())
		id := out.CustomKeyStoreId
		// kmsuser's password changes behind KMS's back on one HSM only:
		// the connect logs in on the others, then fails.
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		officer, err := c.Dial(ctx, hsms[len(hsms)-1].ID)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(officer.Close)
		Expect(officer.Login(ctx, "admin", c.OfficerPassword)).To(Succeed())
		Expect(officer.ChangePassword(ctx, faults.KMSUser, "changed-behind-kms")).To(Succeed())

		heal, err := own.Inject(ctx, faults.Network(c.ID, "", faults.Latency{Latency: latency}))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(heal)
		_, err = oc.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
		Expect(err).NotTo(HaveOccurred())
		inState(ctx, id, types.ConnectionStateTypeFailed)
		Expect(describe(ctx, id).ConnectionErrorCode).To(Equal(types.ConnectionErrorCodeTypeInvalidCredentials))
		noKMSUserLogin(ctx, c)
	})
})
