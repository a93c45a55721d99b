package kms_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

var _ = Describe("A restarted KMS front end", func() {
	It("keeps every store, key, alias and ciphertext, and reconnects the stores that were CONNECTED", func(ctx SpecContext) {
		own, err := harness.Start(ctx, harness.WithDataDir(GinkgoT().TempDir()), harness.WithLogger(testenv.Logger(GinkgoWriter)))
		DeferCleanup(own.Close, context.Background())
		Expect(err).NotTo(HaveOccurred())
		c := kms.New(kms.Options{Region: own.Region(), BaseEndpoint: aws.String(own.KMSEndpoint()),
			Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
		state := func(id *string) types.ConnectionStateType {
			out, err := c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
			Expect(err).NotTo(HaveOccurred())
			return out.CustomKeyStores[0].ConnectionState
		}
		newStore := func(name string) *string {
			cl, err := own.NewCluster(ctx)
			Expect(err).NotTo(HaveOccurred())
			out, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cl.ID),
				TrustAnchorCertificate: aws.String(string(cl.TrustAnchorPEM)), KeyStorePassword: aws.String(cl.KMSUserPassword)})
			Expect(err).NotTo(HaveOccurred())
			return out.CustomKeyStoreId
		}
		connected, idle := newStore("connected"), newStore("idle")
		_, err = c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: connected})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() types.ConnectionStateType { return state(connected) }).Should(Equal(types.ConnectionStateTypeConnected))

		hsmKey, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: connected})
		Expect(err).NotTo(HaveOccurred())
		kmsKey, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kept")})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/kept"), TargetKeyId: hsmKey.KeyMetadata.KeyId})
		Expect(err).NotTo(HaveOccurred())
		ct1, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/kept"), Plaintext: []byte("in the HSM")})
		Expect(err).NotTo(HaveOccurred())
		ct2, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: kmsKey.KeyMetadata.KeyId, Plaintext: []byte("in KMS")})
		Expect(err).NotTo(HaveOccurred())

		Expect(own.RestartKMS(ctx)).To(Succeed())

		Expect(state(idle)).To(Equal(types.ConnectionStateTypeDisconnected))
		Eventually(func() types.ConnectionStateType { return state(connected) }).Should(Equal(types.ConnectionStateTypeConnected))
		for ct, want := range map[*kms.EncryptOutput]string{ct1: "in the HSM", ct2: "in KMS"} {
			out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
			Expect(err).NotTo(HaveOccurred())
			Expect(string(out.Plaintext)).To(Equal(want))
		}
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/kept")})
		Expect(err).NotTo(HaveOccurred())
		Expect(aws.ToString(d.KeyMetadata.KeyId)).To(Equal(aws.ToString(hsmKey.KeyMetadata.KeyId)))
		keys, err := c.ListKeys(ctx, &kms.ListKeysInput{})
		Expect(err).NotTo(HaveOccurred())
		Expect(keys.Keys).To(HaveLen(2))
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: connected})
		Expect(err).NotTo(HaveOccurred(), "the reconnected store makes keys")
	})
})

var _ = Describe("A harness restarted on its data directory", func() {
	It("brings back its clusters, their HSMs and keys, and the KMS state, and reconnects the stores", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		start := func() (*harness.Harness, *kms.Client) {
			hh, err := harness.Start(ctx, harness.WithDataDir(dir), harness.WithLogger(testenv.Logger(GinkgoWriter)))
			DeferCleanup(hh.Close, context.Background())
			Expect(err).NotTo(HaveOccurred())
			return hh, kms.New(kms.Options{Region: hh.Region(), BaseEndpoint: aws.String(hh.KMSEndpoint()),
				Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
		}
		first, c := start()
		cl, err := first.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		out, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("survivor"), CloudHsmClusterId: aws.String(cl.ID),
			TrustAnchorCertificate: aws.String(string(cl.TrustAnchorPEM)), KeyStorePassword: aws.String(cl.KMSUserPassword)})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		var key *kms.CreateKeyOutput
		Eventually(func() error {
			key, err = c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: out.CustomKeyStoreId})
			return err
		}).Should(Succeed())
		ct, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("across restarts")})
		Expect(err).NotTo(HaveOccurred())
		Expect(first.Close(ctx)).To(Succeed())

		second, c := start()
		info, err := second.ControlPlane().Cluster(cl.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.State).To(Equal("ACTIVE"))
		Expect(info.HSMs).To(HaveLen(2))
		Expect(info.HSMs).To(HaveEach(HaveField("State", "ACTIVE")))
		Eventually(func() (string, error) {
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
			if err != nil {
				return "", err
			}
			return string(dec.Plaintext), nil
		}).Should(Equal("across restarts"))
		more, err := second.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred(), "the restored control plane makes clusters")
		Expect(more.ID).NotTo(Equal(cl.ID))
	})
})
