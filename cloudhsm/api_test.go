package cloudhsm_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// apiErrorCode returns the AWS error code of err ("" if it is not one).
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// defaultSubnets returns one subnet per zone of the default VPC (ready
// clusters add subnets of their own there).
func defaultSubnets() []string {
	var ids []string
	zones := map[string]bool{}
	for _, s := range h.ControlPlane().Subnets() {
		if s.VPCID == h.ControlPlane().DefaultVPC() && !zones[s.AvailabilityZone] {
			zones[s.AvailabilityZone] = true
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func describe(ctx context.Context, id string) types.Cluster {
	out, err := h.CloudHSMClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	Expect(err).NotTo(HaveOccurred())
	Expect(out.Clusters).To(HaveLen(1))
	return out.Clusters[0]
}

func createCluster(ctx context.Context) string {
	out, err := h.CloudHSMClient().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: defaultSubnets()})
	Expect(err).NotTo(HaveOccurred())
	Expect(out.Cluster.State).To(Equal(types.ClusterStateCreateInProgress))
	return aws.ToString(out.Cluster.ClusterId)
}

func clusterState(ctx context.Context, id string) func() types.ClusterState {
	return func() types.ClusterState { return describe(ctx, id).State }
}

var _ = Describe("CreateCluster", func() {
	client := func() *cloudhsmv2.Client { return h.CloudHSMClient() }

	It("rejects missing members, unknown subnets, two subnets in one zone and unsupported HSM types", func(ctx SpecContext) {
		_, err := client().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{SubnetIds: defaultSubnets()})
		Expect(err).To(HaveOccurred())
		// The SDK checks required members itself; send one it lets through.
		_, err = client().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: []string{"subnet-0123456789abcdef0"}})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"))
		Expect(err.Error()).To(ContainSubstring("does not exist"))

		// Its own VPC, so that no other spec sees these subnets.
		vpc := "vpc-0000000000000000" + fmt.Sprint(GinkgoParallelProcess()%10)
		zone := h.Region() + "a"
		extra, err := h.ControlPlane().AddSubnet(vpc, zone, 26)
		Expect(err).NotTo(HaveOccurred())
		sameZone, err := h.ControlPlane().AddSubnet(vpc, zone, 28)
		Expect(err).NotTo(HaveOccurred())
		_, err = client().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: []string{extra.ID, sameZone.ID}})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"))

		_, err = client().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm9.huge"), SubnetIds: defaultSubnets()})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"))
		_, err = client().CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("not a type"), SubnetIds: defaultSubnets()})
		Expect(apiErrorCode(err)).To(Equal("ValidationException"))
		Expect(err.Error()).To(ContainSubstring("Value 'not a type' at 'hsmType' failed to satisfy constraint: Member must satisfy regular expression pattern"))
	})
})

var _ = Describe("Cluster lifecycle", func() {
	It("goes from CREATE_IN_PROGRESS to INITIALIZED, and its node is then verified with the trust anchor alone", func(ctx SpecContext) {
		client := h.CloudHSMClient()
		id := createCluster(ctx)
		Eventually(clusterState(ctx, id)).Should(Equal(types.ClusterStateUninitialized))
		Expect(aws.ToString(describe(ctx, id).Certificates.ClusterCsr)).To(BeEmpty(), "no CSR before the first HSM")

		zone := h.Region() + "a"
		created, err := client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(id), AvailabilityZone: aws.String(zone)})
		Expect(err).NotTo(HaveOccurred())
		Expect(created.Hsm.State).To(Equal(types.HsmStateCreateInProgress))
		hsmID := aws.ToString(created.Hsm.HsmId)
		Expect(hsmID).To(MatchRegexp(`^hsm-[2-7a-z]{11}$`))
		Eventually(func() types.HsmState { return describe(ctx, id).Hsms[0].State }).Should(Equal(types.HsmStateActive))

		cl := describe(ctx, id)
		csr := aws.ToString(cl.Certificates.ClusterCsr)
		Expect(csr).To(ContainSubstring("BEGIN CERTIFICATE REQUEST"))
		Expect(aws.ToString(cl.PreCoPassword)).To(HaveLen(24))
		Expect(aws.ToString(cl.Hsms[0].EniIp)).To(MatchRegexp(`^10\.`))

		_, err = client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(id), AvailabilityZone: aws.String(h.Region() + "b")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"), "only one HSM before initialisation")

		ca, err := pki.NewSelfSignedCA("customer")
		Expect(err).NotTo(HaveOccurred())
		otherCA, err := pki.NewSelfSignedCA("someone else")
		Expect(err).NotTo(HaveOccurred())
		signed, err := ca.SignCSR([]byte(csr))
		Expect(err).NotTo(HaveOccurred())
		initialize := func(cert, anchor []byte) error {
			_, err := client.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: aws.String(id), SignedCert: aws.String(string(cert)), TrustAnchor: aws.String(string(anchor))})
			return err
		}
		Expect(apiErrorCode(initialize(signed, otherCA.PEM))).To(Equal("CloudHsmInvalidRequestException"))
		Expect(apiErrorCode(initialize(signed, signed))).To(Equal("CloudHsmInvalidRequestException"), "anchor not self-signed")
		strangerKey, err := pki.NewKey()
		Expect(err).NotTo(HaveOccurred())
		strangerCSR, err := pki.NewCSR(strangerKey, pkix.Name{CommonName: "impostor"})
		Expect(err).NotTo(HaveOccurred())
		impostor, err := ca.SignCSR(strangerCSR)
		Expect(err).NotTo(HaveOccurred())
		Expect(apiErrorCode(initialize(impostor, ca.PEM))).To(Equal("CloudHsmInvalidRequestException"), "signed key is not the CSR's")
		Expect(describe(ctx, id).State).To(Equal(types.ClusterStateUninitialized))

		Expect(initialize(signed, ca.PEM)).To(Succeed())
		Expect(describe(ctx, id).State).To(Equal(types.ClusterStateInitializeInProgress))
		Eventually(clusterState(ctx, id)).Should(Equal(types.ClusterStateInitialized))
		cl = describe(ctx, id)
		Expect(aws.ToString(cl.Certificates.ClusterCsr)).To(BeEmpty())
		Expect(aws.ToString(cl.Certificates.ClusterCertificate)).To(Equal(string(signed)))
		Expect(aws.ToString(cl.PreCoPassword)).To(BeEmpty())

		info, err := h.ControlPlane().Cluster(id)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() error {
			conn, err := hsmclient.Dial(ctx, info.HSMs[0].Address, hsmID, []*x509.Certificate{ca.Cert})
			if err == nil {
				_ = conn.Close()
			}
			return err
		}).Should(Succeed())
		_, err = hsmclient.Dial(ctx, info.HSMs[0].Address, hsmID, []*x509.Certificate{otherCA.Cert})
		Expect(err).To(HaveOccurred())

		Expect(apiErrorCode(initialize(signed, ca.PEM))).To(Equal("CloudHsmInvalidRequestException"), "initialised twice")
	})

	It("deletes HSMs, then the cluster, which ends DELETED", func(ctx SpecContext) {
		client := h.CloudHSMClient()
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		_, err = client.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(c.ID)})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"), "a cluster with HSMs")
		_, err = client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID), HsmId: aws.String("hsm-aaaaaaaaaaa")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmResourceNotFoundException"))
		_, err = client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID)})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"), "no HSM named")

		cl := describe(ctx, c.ID)
		out, err := client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID), EniIp: cl.Hsms[0].EniIp})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.HsmId).To(Equal(cl.Hsms[0].HsmId))
		_, err = client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID), HsmId: cl.Hsms[1].HsmId})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []types.Hsm { return describe(ctx, c.ID).Hsms }).Should(BeEmpty())

		deleted, err := client.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(c.ID)})
		Expect(err).NotTo(HaveOccurred())
		Expect(deleted.Cluster.State).To(Equal(types.ClusterStateDeleteInProgress))
		Eventually(clusterState(ctx, c.ID)).Should(Equal(types.ClusterStateDeleted))
		_, err = client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(c.ID), AvailabilityZone: aws.String(h.Region() + "a")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"))

		// Its last HSM was backed up before it went.
		backups, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {c.ID}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(len(backups.Backups)).To(BeNumerically(">=", 2), "one when the second HSM was added, one before the last went")
	})

	It("answers unknown clusters with CloudHsmResourceNotFoundException", func(ctx SpecContext) {
		_, err := h.CloudHSMClient().CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String("cluster-aaaaaaaaaaa"), AvailabilityZone: aws.String("us-east-1a")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmResourceNotFoundException"))
		_, err = h.CloudHSMClient().DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String("cluster-aaaaaaaaaaa")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmResourceNotFoundException"))
	})
})

var _ = Describe("DescribeClusters", func() {
	It("pages through every cluster once, filters, and rejects a forged token", func(ctx SpecContext) {
		client := h.CloudHSMClient()
		var ids []string
		for range 3 {
			ids = append(ids, createCluster(ctx))
		}
		seen := map[string]int{}
		var token *string
		pages := 0
		for {
			out, err := client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1), NextToken: token})
			Expect(err).NotTo(HaveOccurred())
			Expect(len(out.Clusters)).To(BeNumerically("<=", 1))
			for _, c := range out.Clusters {
				seen[aws.ToString(c.ClusterId)]++
			}
			pages++
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
		for _, id := range ids {
			Expect(seen).To(HaveKeyWithValue(id, 1))
		}
		Expect(pages).To(BeNumerically(">=", 3))

		out, err := client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": ids[:2], "states": {"UNINITIALIZED", "CREATE_IN_PROGRESS"}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Clusters).To(HaveLen(2))
		out, err = client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"states": {"DEGRADED"}, "clusterIds": ids}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Clusters).To(BeEmpty())

		_, err = client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{NextToken: aws.String("forged")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"))
		_, err = client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"colour": {"blue"}}})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmInvalidRequestException"))
		_, err = client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(26)})
		Expect(apiErrorCode(err)).To(Equal("ValidationException"))
		Expect(err.Error()).To(ContainSubstring("Value '26' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 25"))
	})
})

var _ = Describe("Backups", func() {
	It("restore into a related cluster with the same certificate, users and keys", func(ctx SpecContext) {
		client := h.CloudHSMClient()
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		kms, err := c.Login(ctx, harness.KMSUser, c.KMSUserPassword)
		Expect(err).NotTo(HaveOccurred())
		id, err := kms.GenerateKey(ctx, "kept-in-backup", 2)
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := kms.Encrypt(ctx, id, []byte("from the original cluster"), nil)
		Expect(err).NotTo(HaveOccurred())
		kms.Close()
		backupID, err := h.ControlPlane().TakeBackup(ctx, c.ID)
		Expect(err).NotTo(HaveOccurred())

		listed, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {backupID}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(listed.Backups).To(HaveLen(1))
		b := listed.Backups[0]
		Expect(b.BackupState).To(Equal(types.BackupStateReady))
		Expect(aws.ToString(b.ClusterId)).To(Equal(c.ID))
		Expect(aws.ToString(b.BackupArn)).To(HaveSuffix(":backup/" + backupID))

		restored, err := client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: defaultSubnets(), SourceBackupId: aws.String(backupID)})
		Expect(err).NotTo(HaveOccurred())
		rid := aws.ToString(restored.Cluster.ClusterId)
		Expect(aws.ToString(restored.Cluster.SourceBackupId)).To(Equal(backupID))
		Eventually(clusterState(ctx, rid)).Should(Equal(types.ClusterStateUninitialized))
		_, err = client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(rid), AvailabilityZone: aws.String(h.Region() + "b")})
		Expect(err).NotTo(HaveOccurred())
		Eventually(clusterState(ctx, rid)).Should(Equal(types.ClusterStateActive))
		Expect(describe(ctx, rid).Certificates.ClusterCertificate).To(Equal(describe(ctx, c.ID).Certificates.ClusterCertificate))

		info, err := h.ControlPlane().Cluster(rid)
		Expect(err).NotTo(HaveOccurred())
		anchors, err := hsmclient.ParseTrustAnchors(c.TrustAnchorPEM)
		Expect(err).NotTo(HaveOccurred())
		conn, err := hsmclient.Dial(ctx, info.HSMs[0].Address, info.HSMs[0].ID, anchors)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		Expect(conn.Login(ctx, harness.KMSUser, c.KMSUserPassword)).To(Succeed())
		pt, err := conn.Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("from the original cluster")))

		_, err = client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: defaultSubnets(), SourceBackupId: aws.String("backup-aaaaaaaaaaa")})
		Expect(apiErrorCode(err)).To(Equal("CloudHsmResourceNotFoundException"))
	})
})

var _ = Describe("The wire protocol", func() {
	post := func(target, body string) (int, map[string]any) {
		req, err := testenv.AWSJSONRequest(context.Background(), h.CloudHSMEndpoint()+"/", target, []byte(body),
			aws.Credentials{AccessKeyID: harness.AccessKeyID, SecretAccessKey: harness.SecretAccessKey}, cloudhsm.SigningName, h.Region(), time.Now())
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.Header.Get("Content-Type")).To(Equal("application/x-amz-json-1.1"))
		raw, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		var out map[string]any
		Expect(json.Unmarshal(raw, &out)).To(Succeed(), string(raw))
		return resp.StatusCode, out
	}

	It("answers bad requests with the AWS error body, never a 500", func() {
		status, out := post("BaldrApiService.NoSuchThing", "{}")
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "UnknownOperationException"))
		status, out = post("", "{}")
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "UnknownOperationException"))
		status, out = post("BaldrApiService.DescribeClusters", "{not json")
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
		status, out = post("BaldrApiService.DescribeClusters", `{"MaxResults":"ten"}`)
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
		status, out = post("BaldrApiService.CreateHsm", `{}`)
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
		Expect(out["Message"]).To(ContainSubstring("2 validation errors detected: "))
		Expect(out["Message"]).To(ContainSubstring("Value null at 'availabilityZone' failed to satisfy constraint: Member must not be null"))
		Expect(out["Message"]).To(ContainSubstring("Value null at 'clusterId' failed to satisfy constraint: Member must not be null"))
		status, out = post("BaldrApiService.DescribeClusters", "")
		Expect(status).To(Equal(200))
		Expect(out).To(HaveKey("Clusters"))
		status, out = post("BaldrApiService.DeleteBackup", `{"BackupId":"backup-aaaaaaaaaaa"}`)
		Expect(status).To(Equal(400))
		Expect(out["Message"]).To(ContainSubstring("not supported"))
	})

	It("checks the MaxResults it reads: member names match exactly, and every value is within the model's bounds", func(ctx SpecContext) {
		// A lower-case member is not MaxResults: AWS ignores it. It used to
		// reach the handler unchecked, and a page after a token ended in a
		// 500.
		createCluster(ctx)
		createCluster(ctx)
		first, err := h.CloudHSMClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1)})
		Expect(err).NotTo(HaveOccurred())
		Expect(first.NextToken).NotTo(BeNil())
		status, out := post("BaldrApiService.DescribeClusters", `{"maxresults":9223372036854775807,"NextToken":"`+*first.NextToken+`"}`)
		Expect(status).To(Equal(200))
		Expect(out).To(HaveKey("Clusters"))
		status, out = post("BaldrApiService.DescribeClusters", `{"maxresults":9223372036854775807,"NextToken":"bm90IGEgdG9rZW4"}`)
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "CloudHsmInvalidRequestException"))
		status, out = post("BaldrApiService.DescribeClusters", `{"MaxResults":26}`)
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
		Expect(out["Message"]).To(Equal("1 validation error detected: Value '26' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 25"))
		status, out = post("BaldrApiService.DescribeBackups", `{"MaxResults":0}`)
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "ValidationException"))
		status, out = post("BaldrApiService.DescribeClusters", `{"MaxResults":9223372036854775807}`)
		Expect(status).To(Equal(400))
		Expect(out).To(HaveKeyWithValue("__type", "SerializationException"))
	})

	It("answers an unsigned request, or one signed with a wrong secret, as AWS does", func(ctx SpecContext) {
		req, err := testenv.AWSJSONRequest(ctx, h.CloudHSMEndpoint()+"/", "BaldrApiService.DescribeClusters", []byte(`{}`), aws.Credentials{}, "", "", time.Now())
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(400))
		Expect(resp.Header.Get("X-Amzn-ErrorType")).To(Equal("MissingAuthenticationTokenException"))

		wrong := cloudhsmv2.New(cloudhsmv2.Options{Region: h.Region(), BaseEndpoint: aws.String(h.CloudHSMEndpoint()),
			Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, "not-the-secret", "")})
		_, err = wrong.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
		Expect(apiErrorCode(err)).To(Equal("InvalidSignatureException"))
	})

	It("serves the aws CLI", func(ctx SpecContext) {
		if _, err := exec.LookPath("aws"); err != nil {
			Skip("the aws CLI is not installed (Debian package awscli); CI installs it")
		}
		id := createCluster(ctx)
		cmd := exec.CommandContext(ctx, "aws", "cloudhsmv2", "describe-clusters", "--endpoint-url", h.CloudHSMEndpoint(),
			"--region", h.Region(), "--filters", "clusterIds="+id, "--output", "json")
		cmd.Env = append(cmd.Environ(), "AWS_ACCESS_KEY_ID="+harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+harness.SecretAccessKey, "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		var parsed struct {
			Clusters []struct{ ClusterId, HsmType string }
		}
		Expect(json.Unmarshal(out, &parsed)).To(Succeed())
		Expect(parsed.Clusters).To(ConsistOf(SatisfyAll(HaveField("ClusterId", id), HaveField("HsmType", "hsm1.medium"))))
	})
})
