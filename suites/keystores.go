package suites

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
)

// ownStoreSpecs are the specs that make stores of their own, and the one
// that needs a store that never connected, which runs after them. Their
// priorities run them before the other specs: with one given cluster they
// run while it is free (see takeCluster).
func ownStoreSpecs(s *suite) {
	ginkgo.Describe("custom key stores of their own", func() {
		ruleIt("CKS-CREATE-001", priorityOwnStore,
			ginkgo.Label("api:CreateCustomKeyStore", "api:DescribeCustomKeyStores"), func(ctx ginkgo.SpecContext) {
				st := newStore(ctx, s)
				e := describeStore(ctx, s, st.ID)
				gomega.Expect(aws.ToString(e.CustomKeyStoreId)).To(gomega.MatchRegexp(`^cks-[0-9a-f]{17}$`))
				gomega.Expect(aws.ToString(e.CustomKeyStoreName)).To(gomega.Equal(st.Name))
				gomega.Expect(aws.ToString(e.CloudHsmClusterId)).To(gomega.Equal(st.Cluster.ID))
				gomega.Expect(aws.ToString(e.TrustAnchorCertificate)).To(gomega.Equal(st.Cluster.TrustAnchorPEM))
				gomega.Expect(e.ConnectionState).To(gomega.Equal(types.ConnectionStateTypeDisconnected))
				gomega.Expect(e.ConnectionErrorCode).To(gomega.BeEmpty())
				gomega.Expect(e.CreationDate).NotTo(gomega.BeNil())
				gomega.Expect(e.CustomKeyStoreType).To(gomega.Equal(types.CustomKeyStoreTypeAwsCloudhsm))
			})

		ruleIt("CKS-CREATE-002", priorityOwnStore, ginkgo.Label("api:CreateCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			st := newStore(ctx, s)
			client := s.client(true)
			again, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(st.Name),
				CloudHsmClusterId: aws.String(st.Cluster.ID), TrustAnchorCertificate: aws.String(st.Cluster.TrustAnchorPEM),
				KeyStorePassword: aws.String(st.Cluster.KMSUserPassword)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(aws.ToString(again.CustomKeyStoreId)).To(gomega.Equal(st.ID))

			other := needCluster(ctx, s)
			err = createRefused(ctx, s, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(st.Name),
				CloudHsmClusterId: aws.String(other.ID), TrustAnchorCertificate: aws.String(other.TrustAnchorPEM), KeyStorePassword: aws.String(other.KMSUserPassword)})
			gomega.Expect(err).To(failWith("CustomKeyStoreNameInUseException"))
		})

		ruleIt("CKS-UPDATE-002", priorityOwnStore, ginkgo.Label("api:UpdateCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			a, b := newStore(ctx, s), newStore(ctx, s)
			client := s.client(true)
			_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(a.ID), CloudHsmClusterId: aws.String(b.Cluster.ID)})
			gomega.Expect(err).To(failWith("CloudHsmClusterNotRelatedException"))
			_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(a.ID), CloudHsmClusterId: aws.String("cluster-234567abcde")})
			gomega.Expect(err).To(failWith("CloudHsmClusterNotFoundException"))
			_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(a.ID), NewCustomKeyStoreName: aws.String(b.Name)})
			gomega.Expect(err).To(failWith("CustomKeyStoreNameInUseException"))
			_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String("cks-0123456789abcdef0"), NewCustomKeyStoreName: aws.String("x")})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))
		})

		ruleIt("CKS-DELETE-002", priorityOwnStore, ginkgo.Label("api:DeleteCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			st := newStore(ctx, s)
			client := s.client(true)
			_, err := client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			_, err = client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))
			_, err = client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))
		})

		ruleIt("CKS-CONNECT-002", priorityNeverConnected,
			ginkgo.Label("api:ConnectCustomKeyStore", "api:UpdateCustomKeyStore", "fault:INVALID_CREDENTIALS"), func(ctx ginkgo.SpecContext) {
				// A store that never connected: a wrong password replaces the
				// one KMS rotated to, so only such a store can be put right
				// with its cluster's password.
				st := neverConnectedStore(ctx, s)
				client := s.client(true)
				_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), KeyStorePassword: aws.String("not-the-password")})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				_, err = client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				e := waitForState(ctx, s, st.ID, types.ConnectionStateTypeFailed)
				gomega.Expect(e.ConnectionErrorCode).To(gomega.Equal(types.ConnectionErrorCodeTypeInvalidCredentials))

				_, err = client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
				gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"), "Connect on FAILED")
				_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), KeyStorePassword: aws.String(st.Cluster.KMSUserPassword)})
				gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"), "password update on FAILED")

				disconnect(ctx, s, st.ID)
				gomega.Expect(describeStore(ctx, s, st.ID).ConnectionErrorCode).To(gomega.BeEmpty(), "the error code goes with FAILED")
				_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), KeyStorePassword: aws.String(st.Cluster.KMSUserPassword)})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				connect(ctx, s, st.ID)
			})
	})
}

func keyStoreLifecycleSpecs(s *suite) {
	ginkgo.Describe("the custom key store state machine", func() {
		ruleIt("CKS-CONNECT-001", ginkgo.Label("api:ConnectCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			disconnect(ctx, s, st.ID)
			client := s.client(true)
			var held *hold
			if s.canHold(ctx) {
				h := holdNext(ctx, s, st.ID, control.TransitionConnect)
				held = &h
			}
			_, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			if held != nil {
				held.holding(ctx)
			}
			state := describeStore(ctx, s, st.ID).ConnectionState
			if held == nil && state == types.ConnectionStateTypeConnected {
				inconclusive("the store was CONNECTED already when described right after ConnectCustomKeyStore; without the control API's holds a fast target's CONNECTING cannot be observed")
			}
			gomega.Expect(state).To(gomega.Equal(types.ConnectionStateTypeConnecting), "the state right after ConnectCustomKeyStore")
			// Connect is accepted again while CONNECTING and changes nothing.
			_, err = client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred(), "Connect on CONNECTING")
			if held != nil {
				gomega.Expect(describeStore(ctx, s, st.ID).ConnectionState).To(gomega.Equal(types.ConnectionStateTypeConnecting), "the state after a second Connect")
				held.release(ctx)
			}
			e := settle(ctx, s, st.ID)
			if e.ConnectionState == types.ConnectionStateTypeFailed && isTransient(e.ConnectionErrorCode) {
				inconclusive("the connect failed with " + string(e.ConnectionErrorCode) + ", a transient failure")
			}
			gomega.Expect(e.ConnectionState).To(gomega.Equal(types.ConnectionStateTypeConnected), "the state once the connect settled (error code %q)", e.ConnectionErrorCode)
			_, err = client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred(), "Connect on CONNECTED")
			gomega.Expect(describeStore(ctx, s, st.ID).ConnectionState).To(gomega.Equal(types.ConnectionStateTypeConnected))
		})

		ruleIt("CKS-DISCONNECT-001", ginkgo.Label("api:DisconnectCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			client := s.client(true)
			_, err := client.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(describeStore(ctx, s, st.ID).ConnectionState).To(gomega.BeElementOf(
				types.ConnectionStateTypeDisconnecting, types.ConnectionStateTypeDisconnected))
			waitForState(ctx, s, st.ID, types.ConnectionStateTypeDisconnected)
			_, err = client.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"))
		})

		ruleIt("CKS-UPDATE-001", ginkgo.Label("api:UpdateCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			client := s.client(true)
			newName := uniqueName("renamed")
			_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), NewCustomKeyStoreName: aws.String(newName)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			ginkgo.DeferCleanup(func(ctx context.Context) {
				_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), NewCustomKeyStoreName: aws.String(st.Name)})
				gomega.Expect(err).NotTo(gomega.HaveOccurred(), "the shared store's name back")
			})
			gomega.Expect(aws.ToString(describeStore(ctx, s, st.ID).CustomKeyStoreName)).To(gomega.Equal(newName))
			_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), KeyStorePassword: aws.String("another-password")})
			gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"))
			_, err = client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), CloudHsmClusterId: aws.String("cluster-aaaaaaaaaaa")})
			gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"))
		})

		ruleIt("CKS-DELETE-001", ginkgo.Label("api:DeleteCustomKeyStore"), func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			client := s.client(true)
			_, err := client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreInvalidStateException"), "delete while CONNECTED")
			key := newHSMKey(ctx, s, st.ID)
			disconnect(ctx, s, st.ID)
			_, err = client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreHasCMKsException"))
			_, err = client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key.KeyId, PendingWindowInDays: aws.Int32(7)})
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			_, err = client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
			gomega.Expect(err).To(failWith("CustomKeyStoreHasCMKsException"), "a key pending deletion still counts")
		})

	})
}

func keyStoreValidationSpecs(s *suite) {
	ginkgo.Describe("custom key store validation", ginkgo.Label("api:CreateCustomKeyStore"), func() {
		ruleIt("CKS-CREATE-003", func(ctx ginkgo.SpecContext) {
			st := useShared(ctx, s)
			err := createRefused(ctx, s, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(uniqueName("dup")),
				CloudHsmClusterId: aws.String(st.Cluster.ID), TrustAnchorCertificate: aws.String(st.Cluster.TrustAnchorPEM),
				KeyStorePassword: aws.String(st.Cluster.KMSUserPassword)})
			gomega.Expect(err).To(failWith("CloudHsmClusterInUseException"))

			other := needCluster(ctx, s)
			err = createRefused(ctx, s, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(uniqueName("anchor")),
				CloudHsmClusterId: aws.String(other.ID), TrustAnchorCertificate: aws.String(st.Cluster.TrustAnchorPEM),
				KeyStorePassword: aws.String(other.KMSUserPassword)})
			gomega.Expect(err).To(failWith("IncorrectTrustAnchorException"))

			err = createRefused(ctx, s, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(uniqueName("ghost")),
				CloudHsmClusterId: aws.String("cluster-234567abcde"), TrustAnchorCertificate: aws.String(other.TrustAnchorPEM),
				KeyStorePassword: aws.String(other.KMSUserPassword)})
			gomega.Expect(err).To(failWith("CloudHsmClusterNotFoundException"))
		})

		ruleIt("CKS-DESCRIBE-001", ginkgo.Label("api:DescribeCustomKeyStores"), func(ctx ginkgo.SpecContext) {
			client := s.client(true)
			_, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String(uniqueName("absent"))})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))
			_, err = client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
			gomega.Expect(err).To(failWith("CustomKeyStoreNotFoundException"))
		})

		ruleIt("CKS-CREATE-004", ginkgo.Label("api:CreateCustomKeyStore", "kind:slow"), ginkgo.Serial, func(ctx ginkgo.SpecContext) {
			// Filling the quota takes a cluster per store: on a real account
			// (10 stores, one or two clusters) the rule cannot be checked,
			// so the spec needs a target that makes clusters.
			if s.cfg.Control == nil && s.cfg.Provider == nil {
				ginkgo.Skip(fmt.Sprintf("needs a cluster for each of the quota's %d stores: only a target whose control API makes clusters can fill it", s.cfg.storeQuota()))
			}
			for countStores(ctx, s) < s.cfg.storeQuota() {
				newStore(ctx, s)
			}
			extra := needCluster(ctx, s)
			err := createRefused(ctx, s, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(uniqueName("over")),
				CloudHsmClusterId: aws.String(extra.ID), TrustAnchorCertificate: aws.String(extra.TrustAnchorPEM), KeyStorePassword: aws.String(extra.KMSUserPassword)})
			gomega.Expect(err).To(failWith("LimitExceededException"))
		})
	})
}
