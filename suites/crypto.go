package suites

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

func cryptoSpecs(s *suite) {
	ginkgo.Describe("cryptography with CloudHSM keys", func() {
		ruleIt("CKS-ENCRYPT-001", ginkgo.Label("api:Encrypt", "api:Decrypt"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			k := newHSMKey(ctx, s, st.ID)
			client := s.client(true)
			plaintext := make([]byte, 4096)
			for i := range plaintext {
				plaintext[i] = byte(i)
			}
			ec := map[string]string{"purpose": "conformance", "tenant": "a"}
			enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: plaintext, EncryptionContext: ec})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(aws.ToString(enc.KeyId)).To(gomega.Equal(aws.ToString(k.Arn)))
			gomega.Expect(enc.EncryptionAlgorithm).To(gomega.Equal(types.EncryptionAlgorithmSpecSymmetricDefault))

			dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(dec.Plaintext).To(gomega.Equal(plaintext))
			gomega.Expect(aws.ToString(dec.KeyId)).To(gomega.Equal(aws.ToString(k.Arn)))

			_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other"}})
			gomega.Expect(err).To(failWith("InvalidCiphertextException"), "another encryption context")
			tampered := append([]byte(nil), enc.CiphertextBlob...)
			tampered[len(tampered)-1] ^= 0x01
			_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: ec})
			gomega.Expect(err).To(failWith("InvalidCiphertextException"), "a tampered ciphertext")
			_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("not a ciphertext at all")})
			gomega.Expect(err).To(failWith("InvalidCiphertextException"), "garbage")

			other := newKMSKey(ctx, s)
			_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: other.KeyId})
			gomega.Expect(err).To(failWith("IncorrectKeyException"))
		})

		ruleIt("CKS-REENCRYPT-001", ginkgo.Label("api:ReEncrypt"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			hsmKey, kmsKey := newHSMKey(ctx, s, st.ID), newKMSKey(ctx, s)
			client := s.client(true)
			enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: hsmKey.KeyId, Plaintext: []byte("moving")})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			re, err := client.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: kmsKey.KeyId,
				DestinationEncryptionContext: map[string]string{"moved": "yes"}})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(aws.ToString(re.SourceKeyId)).To(gomega.Equal(aws.ToString(hsmKey.Arn)))
			gomega.Expect(aws.ToString(re.KeyId)).To(gomega.Equal(aws.ToString(kmsKey.Arn)))
			dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"moved": "yes"}})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(dec.Plaintext).To(gomega.Equal([]byte("moving")))
		})

		ruleIt("CKS-DATAKEY-001", ginkgo.Label("api:GenerateDataKey", "api:GenerateDataKeyWithoutPlaintext"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			k := newHSMKey(ctx, s, st.ID)
			client := s.client(true)
			dk, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: k.KeyId, KeySpec: types.DataKeySpecAes256})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(dk.Plaintext).To(gomega.HaveLen(32))
			dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(dec.Plaintext).To(gomega.Equal(dk.Plaintext))

			wp, err := client.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId, NumberOfBytes: aws.Int32(64)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			dec, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(dec.Plaintext).To(gomega.HaveLen(64))
		})

		ruleIt("CKS-ENCRYPT-002", ginkgo.Label("api:Encrypt", "api:DisableKey"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			k := newHSMKey(ctx, s, st.ID)
			client := s.client(true)
			_, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: k.KeyId})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			_, err = client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
			gomega.Expect(err).To(failWith("DisabledException"))
		})

		ruleIt("CKS-RANDOM-001", ginkgo.Label("api:GenerateRandom"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			disconnect(ctx, s, st.ID)
			client := s.client(true)
			_, err := client.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32), CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"))
			_, err = client.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32), CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))
			connect(ctx, s, st.ID)
			a, err := client.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1024), CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			b, err := client.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1024), CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(a.Plaintext).To(gomega.HaveLen(1024))
			gomega.Expect(a.Plaintext).NotTo(gomega.Equal(b.Plaintext))
			_, err = client.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
			gomega.Expect(err).To(failWith("ValidationException"))
		})
	})
}
