package suites

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// promptly is how soon an operation must fail when the cluster is gone:
// seconds, not minutes.
const promptly = 15 * time.Second

func faultSpecs(s *suite) {
	ginkgo.Describe("connection faults", ginkgo.Label("kind:fault", "needs:fault-control", "api:ConnectCustomKeyStore"), func() {
		ginkgo.DescribeTable("fail the connect with their code, refuse Connect while FAILED, and the documented repair brings the store back",
			func(ctx ginkgo.SpecContext, name string, code types.ConnectionErrorCodeType) {
				c := needControl(s)
				st := newFaultStore(ctx, s)
				if name == "network-errors" {
					// Network faults act on KMS's connections to the HSMs.
					connect(ctx, s, st.ID)
					disconnect(ctx, s, st.ID)
				}
				injected := time.Now()
				heal := c.inject(ctx, name, st.Cluster.ID, "")
				client := s.client(true)
				_, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				e := waitForState(ctx, s, st.ID, types.ConnectionStateTypeFailed)
				gomega.Expect(e.ConnectionErrorCode).To(gomega.Equal(code))
				// In the report: from the inject request to FAILED being visible
				// (it includes the target's connect delay).
				ginkgo.AddReportEntry("inject-to-failed "+name, time.Since(injected).Round(time.Millisecond).String())
				_, err = client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
				gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"), "Connect on FAILED")

				disconnect(ctx, s, st.ID)
				report := heal(ctx)
				update := &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)}
				if report.KMSUserPassword != "" {
					update.KeyStorePassword = aws.String(report.KMSUserPassword)
				}
				if report.ClusterID != "" {
					update.CloudHsmClusterId = aws.String(report.ClusterID)
					s.replaceCluster(ctx, st, report.ClusterID)
				}
				if report.KMSUserPassword != "" {
					st.Cluster.KMSUserPassword = report.KMSUserPassword
				}
				if update.KeyStorePassword != nil || update.CloudHsmClusterId != nil {
					_, err := client.UpdateCustomKeyStore(ctx, update)
					gomega.Expect(err).NotTo(gomega.HaveOccurred(), "UpdateCustomKeyStore with what the heal reported")
				}
				connect(ctx, s, st.ID)
			},
			faultEntry("CKS-FAULT-001", "user-locked-out", types.ConnectionErrorCodeTypeUserLockedOut),
			faultEntry("CKS-FAULT-002", "invalid-credentials", types.ConnectionErrorCodeTypeInvalidCredentials),
			faultEntry("CKS-FAULT-003", "cluster-not-found", types.ConnectionErrorCodeTypeClusterNotFound),
			faultEntry("CKS-FAULT-004", "insufficient-cloudhsm-hsms", types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms),
			faultEntry("CKS-FAULT-005", "network-errors", types.ConnectionErrorCodeTypeNetworkErrors),
			faultEntry("CKS-FAULT-006", "internal-error", types.ConnectionErrorCodeTypeInternalError),
			faultEntry("CKS-FAULT-007", "user-not-found", types.ConnectionErrorCodeTypeUserNotFound),
			faultEntry("CKS-FAULT-008", "user-logged-in", types.ConnectionErrorCodeTypeUserLoggedIn),
			faultEntry("CKS-FAULT-009", "subnet-not-found", types.ConnectionErrorCodeTypeSubnetNotFound),
			faultEntry("CKS-FAULT-010", "insufficient-free-addresses-in-subnet", types.ConnectionErrorCodeTypeInsufficientFreeAddressesInSubnet),
		)

		ruleIt("CKS-FAULT-011",
			ginkgo.Label("fault:INVALID_CREDENTIALS", "fault:USER_LOCKED_OUT"), func(ctx ginkgo.SpecContext) {
				needControl(s)
				st := newFaultStore(ctx, s)
				client := s.client(true)
				_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), KeyStorePassword: aws.String("not-the-password")})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				var codes []types.ConnectionErrorCodeType
				for len(codes) < 10 && (len(codes) == 0 || codes[len(codes)-1] == types.ConnectionErrorCodeTypeInvalidCredentials) {
					_, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
					gomega.Expect(err).NotTo(gomega.HaveOccurred())
					codes = append(codes, waitForState(ctx, s, st.ID, types.ConnectionStateTypeFailed).ConnectionErrorCode)
					disconnect(ctx, s, st.ID)
				}
				gomega.Expect(codes[0]).To(gomega.Equal(types.ConnectionErrorCodeTypeInvalidCredentials))
				gomega.Expect(codes[len(codes)-1]).To(gomega.Equal(types.ConnectionErrorCodeTypeUserLockedOut), "codes: %v", codes)
			})
	})

	ginkgo.Describe("life after CONNECTED", ginkgo.Label("kind:fault", "needs:fault-control", "api:Encrypt", "api:Decrypt"), func() {
		ruleIt("CKS-FAULT-012", func(ctx ginkgo.SpecContext) {
			c := needControl(s)
			st := useShared(ctx, s)
			k := newHSMKey(ctx, s, st.ID)
			client := s.client(true)
			before, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("before")})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			c.inject(ctx, "node-killed", st.Cluster.ID, c.hsms(ctx, st.Cluster.ID)[0])
			for range 4 {
				out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: before.CiphertextBlob})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				gomega.Expect(out.Plaintext).To(gomega.Equal([]byte("before")))
				_, err = client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: k.KeyId, KeySpec: types.DataKeySpecAes256})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
			}
		})

		ruleIt("CKS-FAULT-013",
			func(ctx ginkgo.SpecContext) {
				c := needControl(s)
				st := useShared(ctx, s)
				k := newHSMKey(ctx, s, st.ID)
				client := s.client(false)
				before, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("kept")})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())

				heal := c.inject(ctx, "network-blackhole", st.Cluster.ID, "")
				timed := func(what string, call func(ctx context.Context) error) error {
					cctx, cancel := context.WithTimeout(ctx, promptly)
					defer cancel()
					start := time.Now()
					err := call(cctx)
					gomega.Expect(time.Since(start)).To(gomega.BeNumerically("<", promptly), "%s must fail promptly", what)
					return err
				}
				gomega.Expect(timed("Encrypt", func(ctx context.Context) error {
					_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
					return err
				})).To(failWith("KMSInvalidStateException"))
				gomega.Expect(timed("Decrypt", func(ctx context.Context) error {
					_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: before.CiphertextBlob})
					return err
				})).To(failWith("KMSInvalidStateException"))
				gomega.Expect(timed("GenerateDataKey", func(ctx context.Context) error {
					_, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: k.KeyId, NumberOfBytes: aws.Int32(32)})
					return err
				})).To(failWith("KMSInvalidStateException"))
				gomega.Expect(timed("GenerateRandom", func(ctx context.Context) error {
					_, err := client.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(16), CustomKeyStoreId: aws.String(st.ID)})
					return err
				})).To(failWith("KMSInternalException"))
				gomega.Expect(timed("CreateKey", func(ctx context.Context) error {
					_, err := client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(st.ID)})
					return err
				})).To(failWith("KMSInternalException"))

				heal(ctx)
				// The store stayed CONNECTED; once the network is back, KMS
				// works again by itself, and nothing was lost.
				gomega.Expect(describeStore(ctx, s, st.ID).ConnectionState).To(gomega.Equal(types.ConnectionStateTypeConnected))
				gomega.Eventually(ctx, func() ([]byte, error) {
					out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: before.CiphertextBlob})
					if err != nil {
						return nil, err
					}
					return out.Plaintext, nil
				}).WithTimeout(s.cfg.connectTimeout()).WithPolling(pollInterval).Should(gomega.Equal([]byte("kept")), "a ciphertext from before the cut")
				_, err = client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("again")})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
			})
	})
}

func faultEntry(rule, name string, code types.ConnectionErrorCodeType) ginkgo.TableEntry {
	return ruleEntry(rule, ginkgo.Label("fault:"+string(code)), name, code)
}
