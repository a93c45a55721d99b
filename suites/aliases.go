package suites

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

func aliasSpecs(s *suite) {
	ginkgo.Describe("aliases", ginkgo.Label("api:CreateAlias", "api:UpdateAlias", "api:DeleteAlias", "api:ListAliases"), func() {
		ruleIt("CKS-ALIAS-001", func(ctx ginkgo.SpecContext) {
			a, b := newKMSKey(ctx, s), newKMSKey(ctx, s)
			client := s.client(true)
			name := "alias/" + uniqueName("conformance")
			_, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: a.KeyId})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			ginkgo.DeferCleanup(func(ctx ginkgo.SpecContext) {
				_, _ = client.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String(name)})
			})
			_, err = client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: b.KeyId})
			gomega.Expect(err).To(failWith("AlreadyExistsException"))
			gomega.Expect(aws.ToString(keyState(ctx, s, aws.String(name)).KeyId)).To(gomega.Equal(aws.ToString(a.KeyId)))
			enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(name), Plaintext: []byte("via alias")})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(aws.ToString(enc.KeyId)).To(gomega.Equal(aws.ToString(a.Arn)))

			list, err := client.ListAliases(ctx, &kms.ListAliasesInput{KeyId: a.KeyId})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(list.Aliases).To(gomega.ContainElement(gomega.HaveField("AliasName", gomega.HaveValue(gomega.Equal(name)))))

			_, err = client.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(name), TargetKeyId: b.KeyId})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(aws.ToString(keyState(ctx, s, aws.String(name)).KeyId)).To(gomega.Equal(aws.ToString(b.KeyId)))

			_, err = client.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String(name)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			_, err = client.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String(name)})
			gomega.Expect(err).To(failWith("NotFoundException"))
			_, err = client.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(name), TargetKeyId: a.KeyId})
			gomega.Expect(err).To(failWith("NotFoundException"))
		})

		ruleIt("CKS-ALIAS-002", func(ctx ginkgo.SpecContext) {
			k := newKMSKey(ctx, s)
			client := s.client(true)
			for _, name := range []string{"alias/aws/" + uniqueName("reserved"), "notalias/" + uniqueName("x")} {
				_, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: k.KeyId})
				gomega.Expect(err).To(gomega.HaveOccurred(), name)
			}
			_, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/" + uniqueName("dangling")), TargetKeyId: aws.String("0b5e8c3c-0000-4000-8000-000000000000")})
			gomega.Expect(err).To(failWith("NotFoundException"))
		})
	})
}
