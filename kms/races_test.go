package kms_test

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	kmsfront "github.com/kmsharness/kmsharness/kms"
)

// createStore creates a DISCONNECTED store named name on the cluster, removed
// after the spec.
func createStore(ctx context.Context, c *harness.Cluster, name string) string {
	out, err := client().CreateCustomKeyStore(ctx, createInput(c, name))
	Expect(err).NotTo(HaveOccurred())
	id := aws.ToString(out.CustomKeyStoreId)
	cleanUp(id)
	return id
}

func createInput(c *harness.Cluster, name string) *kms.CreateCustomKeyStoreInput {
	return &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(c.ID),
		TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)}
}

// inBackground runs call in a goroutine and returns where its error arrives.
func inBackground(call func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- call()
	}()
	return done
}

// answer waits for a background call's error.
func answer(done <-chan error) error {
	var err error
	Eventually(done).Should(Receive(&err))
	return err
}

// settlesConnected waits until the store is CONNECTED, failing at once if
// it ends FAILED.
func settlesConnected(ctx context.Context, id string) {
	Eventually(func(g Gomega) types.ConnectionStateType {
		out, err := client().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		g.Expect(err).NotTo(HaveOccurred())
		st := out.CustomKeyStores[0]
		if st.ConnectionState == types.ConnectionStateTypeFailed {
			StopTrying("the store ended FAILED " + string(st.ConnectionErrorCode)).Now()
		}
		return st.ConnectionState
	}).Should(Equal(types.ConnectionStateTypeConnected))
}

func connect(ctx context.Context, id string) error {
	_, err := client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	return err
}

func disconnect(ctx context.Context, id string) error {
	_, err := client().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	return err
}

func deleteStore(ctx context.Context, id string) error {
	_, err := client().DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	return err
}

func rename(ctx context.Context, id, name string) error {
	_, err := client().UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String(name)})
	return err
}

// storesNamed returns the IDs of the stores with the name.
func storesNamed(ctx context.Context, name string) []string {
	out, err := client().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String(name)})
	if code(err) == "CustomKeyStoreNotFoundException" {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	var ids []string
	for _, st := range out.CustomKeyStores {
		ids = append(ids, aws.ToString(st.CustomKeyStoreId))
	}
	return ids
}

// Each spec holds one operation at the instant between its check and its
// change (a kms.Step) and runs another operation there: the race lands on
// that instant every time.
var _ = Describe("Operations that race", func() {
	DescribeTable("a disconnect while CONNECTING leaves kmsuser's password known, wherever the rotation was",
		func(ctx SpecContext, step kmsfront.Step) {
			c, err := h.NewCluster(ctx)
			Expect(err).NotTo(HaveOccurred())
			id := createStore(ctx, c, "desync-"+c.ID)
			g := gates.hold(step, id)
			Expect(connect(ctx, id)).To(Succeed())
			g.wait(1)
			Expect(disconnect(ctx, id)).To(Succeed())
			g.release()
			waitForState(ctx, id, types.ConnectionStateTypeDisconnected)
			Expect(connect(ctx, id)).To(Succeed())
			settlesConnected(ctx, id)
		},
		Entry("before the rotation", kmsfront.StepConnectLoggedIn),
		Entry("after the first HSM changed", kmsfront.StepRotationHSMChanged),
		Entry("after every HSM changed", kmsfront.StepRotationDone),
	)

	It("a connect that waited while the store was deleted finds it gone, and leaves no ghost holding kmsuser", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "ghost-"+c.ID)
		g := gates.hold(kmsfront.StepConnectChecked, id)
		connecting := inBackground(func() error { return connect(ctx, id) })
		g.wait(1)
		Expect(deleteStore(ctx, id)).To(Succeed())
		g.release()
		Expect(code(answer(connecting))).To(Equal("CustomKeyStoreNotFoundException"))
		_, err = client().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		Expect(code(err)).To(Equal("CustomKeyStoreNotFoundException"))

		next := createStore(ctx, c, "after-ghost-"+c.ID)
		Expect(connect(ctx, next)).To(Succeed())
		settlesConnected(ctx, next)
		Expect(h.KMS().SessionHSMs(id)).To(BeEmpty())
	})

	It("with a data directory, a store deleted while a connect and an update waited stays deleted after a restart", func(ctx SpecContext) {
		own, err := harness.Start(ctx, harness.WithDataDir(GinkgoT().TempDir()), harness.WithLogger(testenv.Logger(GinkgoWriter)),
			harness.WithKMSOptions(kmsfront.WithStepHook(gates.hook)))
		DeferCleanup(own.Close, context.Background())
		Expect(err).NotTo(HaveOccurred())
		c, err := own.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		oc := kms.New(kms.Options{Region: own.Region(), BaseEndpoint: aws.String(own.KMSEndpoint()), Credentials: client().Options().Credentials})
		out, err := oc.CreateCustomKeyStore(ctx, createInput(c, "restart-ghost-"+c.ID))
		Expect(err).NotTo(HaveOccurred())
		id := out.CustomKeyStoreId
		gc, gu := gates.hold(kmsfront.StepConnectChecked, *id), gates.hold(kmsfront.StepUpdateChecked, *id)
		connecting := inBackground(func() error {
			_, err := oc.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
			return err
		})
		updating := inBackground(func() error {
			_, err := oc.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: aws.String("renamed-" + c.ID)})
			return err
		})
		gc.wait(1)
		gu.wait(1)
		_, err = oc.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
		Expect(err).NotTo(HaveOccurred())
		gc.release()
		gu.release()
		Expect(code(answer(connecting))).To(Equal("CustomKeyStoreNotFoundException"))
		Expect(code(answer(updating))).To(Equal("CustomKeyStoreNotFoundException"))

		Expect(own.RestartKMS(ctx)).To(Succeed())
		_, err = oc.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		Expect(code(err)).To(Equal("CustomKeyStoreNotFoundException"), "the deleted store stays deleted")
		next, err := oc.CreateCustomKeyStore(ctx, createInput(c, "after-restart-"+c.ID))
		Expect(err).NotTo(HaveOccurred())
		_, err = oc.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: next.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() types.ConnectionStateType {
			d, err := oc.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: next.CustomKeyStoreId})
			Expect(err).NotTo(HaveOccurred())
			return d.CustomKeyStores[0].ConnectionState
		}).Should(Equal(types.ConnectionStateTypeConnected))
	})

	It("an update that waited while the store was deleted finds it gone", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "update-delete-"+c.ID)
		g := gates.hold(kmsfront.StepUpdateChecked, id)
		updating := inBackground(func() error { return rename(ctx, id, "renamed-"+c.ID) })
		g.wait(1)
		Expect(deleteStore(ctx, id)).To(Succeed())
		g.release()
		Expect(code(answer(updating))).To(Equal("CustomKeyStoreNotFoundException"))
		Expect(storesNamed(ctx, "renamed-"+c.ID)).To(BeEmpty())
		Expect(storesNamed(ctx, "update-delete-"+c.ID)).To(BeEmpty())
	})

	It("an update that waited while the store was connected is refused", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		id := createStore(ctx, c, "update-connect-"+c.ID)
		g := gates.hold(kmsfront.StepUpdateChecked, id)
		updating := inBackground(func() error {
			_, err := client().UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("another-password")})
			return err
		})
		g.wait(1)
		Expect(connect(ctx, id)).To(Succeed())
		g.release()
		Expect(code(answer(updating))).To(Equal("CustomKeyStoreInvalidStateException"))
		settlesConnected(ctx, id)
	})

	It("two renames to one name: one wins, the other finds the name in use", func(ctx SpecContext) {
		c1, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		c2, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		a, b := createStore(ctx, c1, "rename-a-"+c1.ID), createStore(ctx, c2, "rename-b-"+c2.ID)
		target := "one-name-" + c1.ID
		ga, gb := gates.hold(kmsfront.StepUpdateChecked, a), gates.hold(kmsfront.StepUpdateChecked, b)
		renaming := []<-chan error{
			inBackground(func() error { return rename(ctx, a, target) }),
			inBackground(func() error { return rename(ctx, b, target) }),
		}
		ga.wait(1)
		gb.wait(1)
		ga.release()
		gb.release()
		codes := []string{code(answer(renaming[0])), code(answer(renaming[1]))}
		Expect(codes).To(ConsistOf("", "CustomKeyStoreNameInUseException"))
		Expect(storesNamed(ctx, target)).To(HaveLen(1))
	})

	It("a rename that waited while a new store took the name finds it in use", func(ctx SpecContext) {
		c1, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		c2, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		a := createStore(ctx, c1, "renamer-"+c1.ID)
		target := "taken-" + c1.ID
		g := gates.hold(kmsfront.StepUpdateChecked, a)
		renaming := inBackground(func() error { return rename(ctx, a, target) })
		g.wait(1)
		createStore(ctx, c2, target)
		g.release()
		Expect(code(answer(renaming))).To(Equal("CustomKeyStoreNameInUseException"))
		Expect(storesNamed(ctx, target)).To(HaveLen(1))
	})

	It("identical creates that race all answer the same store's ID", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		name := "twin-" + c.ID
		g := gates.hold(kmsfront.StepCreateStoreChecked, name)
		const n = 5
		ids := make([]string, n)
		var creating []<-chan error
		for i := range n {
			creating = append(creating, inBackground(func() error {
				out, err := client().CreateCustomKeyStore(ctx, createInput(c, name))
				if err == nil {
					ids[i] = aws.ToString(out.CustomKeyStoreId)
				}
				return err
			}))
		}
		g.wait(n)
		g.release()
		var errs []error
		for _, done := range creating {
			errs = append(errs, answer(done))
		}
		for _, id := range ids {
			if id != "" {
				cleanUp(id)
			}
		}
		Expect(errs).To(HaveEach(BeNil()))
		Expect(ids).To(HaveEach(Equal(ids[0])))
		Expect(storesNamed(ctx, name)).To(ConsistOf(ids[0]))
	})

	It("twenty identical creates sent at once all answer the same store's ID", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		name := "twenty-" + c.ID
		const n = 20
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				out, err := client().CreateCustomKeyStore(ctx, createInput(c, name))
				errs[i] = err
				if err == nil {
					ids[i] = aws.ToString(out.CustomKeyStoreId)
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != "" {
				cleanUp(id)
			}
		}
		Expect(errs).To(HaveEach(BeNil()))
		Expect(ids).To(HaveEach(Equal(ids[0])))
	})

	It("a create that waited while a store was renamed to its name finds the name in use", func(ctx SpecContext) {
		c1, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		c2, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		other := createStore(ctx, c2, "other-"+c2.ID)
		name := "contested-" + c1.ID
		g := gates.hold(kmsfront.StepCreateStoreChecked, name)
		var made string
		creating := inBackground(func() error {
			out, err := client().CreateCustomKeyStore(ctx, createInput(c1, name))
			if err == nil {
				made = aws.ToString(out.CustomKeyStoreId)
			}
			return err
		})
		g.wait(1)
		Expect(rename(ctx, other, name)).To(Succeed())
		g.release()
		err = answer(creating)
		if made != "" {
			cleanUp(made)
		}
		Expect(code(err)).To(Equal("CustomKeyStoreNameInUseException"))
		Expect(storesNamed(ctx, name)).To(ConsistOf(other))
	})

	It("a CreateKey whose store was disconnected and deleted while the HSMs made the key records no key", func(ctx SpecContext) {
		_, id := connectedStore(ctx)
		g := gates.hold(kmsfront.StepCreateKeyGenerated, id)
		creating := inBackground(func() error {
			_, err := client().CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
			return err
		})
		g.wait(1)
		Expect(disconnect(ctx, id)).To(Succeed())
		waitForState(ctx, id, types.ConnectionStateTypeDisconnected)
		Expect(deleteStore(ctx, id)).To(Succeed())
		g.release()
		Expect(code(answer(creating))).To(Equal("CustomKeyStoreNotFoundException"))
		keys, err := client().ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1000)})
		Expect(err).NotTo(HaveOccurred())
		for _, k := range keys.Keys {
			d, err := client().DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
			Expect(err).NotTo(HaveOccurred())
			Expect(aws.ToString(d.KeyMetadata.CustomKeyStoreId)).NotTo(Equal(id), "a key of the deleted store")
		}
	})
})

// waitForState waits until the store is in the state.
func waitForState(ctx context.Context, id string, state types.ConnectionStateType) {
	Eventually(func() types.ConnectionStateType { return storeState(ctx, id) }).Should(Equal(state))
}
