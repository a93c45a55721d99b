package suites

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

func keyState(ctx ginkgo.SpecContext, s *suite, keyID *string) types.KeyMetadata {
	out, err := s.client(true).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: keyID})
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return *out.KeyMetadata
}

func keySpecs(s *suite) {
	ginkgo.Describe("keys in a CloudHSM key store", func() {
		ruleIt("CKS-CREATEKEY-001", ginkgo.Label("api:CreateKey"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			disconnect(ctx, s, st.ID)
			client := s.client(true)
			_, err := client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"), "CreateKey in a DISCONNECTED store")
			_, err = client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))

			connect(ctx, s, st.ID)
			m := newHSMKey(ctx, s, st.ID)
			gomega.Expect(m.KeyState).To(gomega.Equal(types.KeyStateEnabled))
			gomega.Expect(m.Enabled).To(gomega.BeTrue())
			gomega.Expect(m.Origin).To(gomega.Equal(types.OriginTypeAwsCloudhsm))
			gomega.Expect(aws.ToString(m.CustomKeyStoreId)).To(gomega.Equal(st.ID))
			gomega.Expect(aws.ToString(m.CloudHsmClusterId)).To(gomega.Equal(st.Cluster.ID))
			gomega.Expect(m.KeySpec).To(gomega.Equal(types.KeySpecSymmetricDefault))
			gomega.Expect(m.KeyUsage).To(gomega.Equal(types.KeyUsageTypeEncryptDecrypt))
			gomega.Expect(aws.ToString(m.Arn)).To(gomega.HaveSuffix(":key/" + aws.ToString(m.KeyId)))

			_, err = client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(st.ID), KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
			gomega.Expect(err).To(gomega.HaveOccurred(), "asymmetric keys in a CloudHSM store")
		})

		ruleIt("CKS-KEYSTATE-001",
			ginkgo.Label("api:DisconnectCustomKeyStore", "api:EnableKey", "api:DisableKey"), func(ctx ginkgo.SpecContext) {
				st := useShared(ctx, s)
				client := s.client(true)
				enabled, disabled := newHSMKey(ctx, s, st.ID), newHSMKey(ctx, s, st.ID)
				_, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: disabled.KeyId})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				ct, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: enabled.KeyId, Plaintext: []byte("before the disconnect")})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())

				disconnect(ctx, s, st.ID)
				for _, k := range []*types.KeyMetadata{enabled, disabled} {
					m := keyState(ctx, s, k.KeyId)
					gomega.Expect(m.KeyState).To(gomega.Equal(types.KeyStateUnavailable))
					gomega.Expect(m.Enabled).To(gomega.BeFalse())
				}
				_, err = client.Encrypt(ctx, &kms.EncryptInput{KeyId: enabled.KeyId, Plaintext: []byte("x")})
				gomega.Expect(err).To(failWith("KMSInvalidStateException"))
				_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
				gomega.Expect(err).To(failWith("KMSInvalidStateException"))

				_, err = client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: enabled.KeyId})
				gomega.Expect(err).NotTo(gomega.HaveOccurred(), "DisableKey on an Unavailable key")
				_, err = client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: disabled.KeyId})
				gomega.Expect(err).NotTo(gomega.HaveOccurred(), "EnableKey on an Unavailable key")
				gomega.Expect(keyState(ctx, s, enabled.KeyId).KeyState).To(gomega.Equal(types.KeyStateUnavailable))

				connect(ctx, s, st.ID)
				gomega.Expect(keyState(ctx, s, enabled.KeyId).KeyState).To(gomega.Equal(types.KeyStateDisabled))
				gomega.Expect(keyState(ctx, s, disabled.KeyId).KeyState).To(gomega.Equal(types.KeyStateEnabled))
				_, err = client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: enabled.KeyId})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				pt, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
				gomega.Expect(err).NotTo(gomega.HaveOccurred(), "a ciphertext from before the disconnect")
				gomega.Expect(pt.Plaintext).To(gomega.Equal([]byte("before the disconnect")))
			})

		ruleIt("CKS-KEYDELETION-001",
			ginkgo.Label("api:ScheduleKeyDeletion", "api:CancelKeyDeletion"), func(ctx ginkgo.SpecContext) {
				st := useShared(ctx, s)
				client := s.client(true)
				k := newHSMKey(ctx, s, st.ID)
				// The longest window, so that the key outlives the spec.
				out, err := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(30)})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				gomega.Expect(out.KeyState).To(gomega.Equal(types.KeyStatePendingDeletion))
				gomega.Expect(out.PendingWindowInDays).To(gomega.HaveValue(gomega.BeEquivalentTo(30)))
				gomega.Expect(aws.ToString(out.KeyId)).To(gomega.Equal(aws.ToString(k.Arn)))
				gomega.Expect(out.DeletionDate).NotTo(gomega.BeNil())
				_, err = client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)})
				gomega.Expect(err).To(failWith("KMSInvalidStateException"), "scheduling twice")
				_, err = client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
				gomega.Expect(err).To(failWith("KMSInvalidStateException"))

				disconnect(ctx, s, st.ID)
				gomega.Expect(keyState(ctx, s, k.KeyId).KeyState).To(gomega.Equal(types.KeyStatePendingDeletion))
				_, err = client.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: k.KeyId})
				gomega.Expect(err).NotTo(gomega.HaveOccurred(), "cancel while disconnected")
				connect(ctx, s, st.ID)
				gomega.Expect(keyState(ctx, s, k.KeyId).KeyState).To(gomega.Equal(types.KeyStateDisabled))
				_, err = client.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: k.KeyId})
				gomega.Expect(err).To(failWith("KMSInvalidStateException"), "cancel on a key not pending deletion")
			})

		ruleIt("CKS-DESCRIBEKEY-001", ginkgo.Label("api:DescribeKey"), func(ctx ginkgo.SpecContext) {
			k := newKMSKey(ctx, s)
			client := s.client(true)
			for _, ref := range []*string{k.KeyId, k.Arn} {
				gomega.Expect(aws.ToString(keyState(ctx, s, ref).KeyId)).To(gomega.Equal(aws.ToString(k.KeyId)))
			}
			_, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("0b5e8c3c-0000-4000-8000-000000000000")})
			gomega.Expect(err).To(failWith("NotFoundException"))
			_, err = client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/" + uniqueName("none"))})
			gomega.Expect(err).To(failWith("NotFoundException"))
		})
	})
}
