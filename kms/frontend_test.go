package kms_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/suites"
)

// These specs cover what only this implementation promises (the
// conformance suites cover the API itself): HSM failover, material deletion,
// the aws CLI, operations it does not implement.

func client() *kms.Client {
	return kms.New(kms.Options{Region: h.Region(), BaseEndpoint: aws.String(h.KMSEndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// cleanUp removes the store after the spec, so that no spec leaves stores
// behind (the account's quota is 10, and conformance specs count on it).
func cleanUp(storeID string) {
	DeferCleanup(func(ctx SpecContext) { suites.RemoveStore(ctx, client(), storeID) }, NodeTimeout(2*time.Minute))
}

// connectedStore makes a cluster and a CONNECTED store on it.
func connectedStore(ctx context.Context) (*harness.Cluster, string) {
	c, err := h.NewCluster(ctx)
	Expect(err).NotTo(HaveOccurred())
	out, err := client().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("fe-" + c.ID),
		CloudHsmClusterId: aws.String(c.ID), TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
	Expect(err).NotTo(HaveOccurred())
	id := aws.ToString(out.CustomKeyStoreId)
	cleanUp(id)
	_, err = client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() types.ConnectionStateType { return storeState(ctx, id) }).Should(Equal(types.ConnectionStateTypeConnected))
	return c, id
}

func storeState(ctx context.Context, id string) types.ConnectionStateType {
	out, err := client().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	Expect(err).NotTo(HaveOccurred())
	return out.CustomKeyStores[0].ConnectionState
}

func hsmKey(ctx context.Context, storeID string) *types.KeyMetadata {
	out, err := client().CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(storeID)})
	Expect(err).NotTo(HaveOccurred())
	return out.KeyMetadata
}

var _ = Describe("The KMS front end", func() {
	It("keeps encrypting and decrypting through the other HSM when one is lost", func(ctx SpecContext) {
		c, storeID := connectedStore(ctx)
		k := hsmKey(ctx, storeID)
		before, err := client().Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("before")})
		Expect(err).NotTo(HaveOccurred())
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Processes().Kill(hsms[0].ID)).To(Succeed())
		for range 4 {
			dec, err := client().Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: before.CiphertextBlob})
			Expect(err).NotTo(HaveOccurred())
			Expect(dec.Plaintext).To(Equal([]byte("before")))
			_, err = client().Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("after")})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(h.Processes().Kill(hsms[1].ID)).To(Succeed())
		_, err = client().Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("none left")})
		Expect(code(err)).To(Equal("KMSInvalidStateException"))
		Expect(err.Error()).To(ContainSubstring("cannot communicate with your CloudHSM cluster"))
	})

	It("fails a connect with USER_LOGGED_IN while someone else is logged in as kmsuser", func(ctx SpecContext) {
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		other, err := c.Login(ctx, harness.KMSUser, c.KMSUserPassword)
		Expect(err).NotTo(HaveOccurred())
		out, err := client().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("li-" + c.ID),
			CloudHsmClusterId: aws.String(c.ID), TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
		Expect(err).NotTo(HaveOccurred())
		cleanUp(aws.ToString(out.CustomKeyStoreId))
		_, err = client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(out.CustomKeyStoreId)) }).Should(Equal(types.ConnectionStateTypeFailed))
		d, err := client().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.CustomKeyStores[0].ConnectionErrorCode).To(Equal(types.ConnectionErrorCodeTypeUserLoggedIn))

		other.Close()
		_, err = client().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(out.CustomKeyStoreId)) }).Should(Equal(types.ConnectionStateTypeDisconnected))
		_, err = client().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() types.ConnectionStateType { return storeState(ctx, aws.ToString(out.CustomKeyStoreId)) }).Should(Equal(types.ConnectionStateTypeConnected))
	})

	It("rotates kmsuser's password on connect, so the old one no longer logs in", func(ctx SpecContext) {
		c, _ := connectedStore(ctx)
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		conn, err := c.Dial(ctx, hsms[0].ID)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		Expect(conn.Login(ctx, harness.KMSUser, c.KMSUserPassword)).NotTo(Succeed())
	})

	It("deletes a key's material from every HSM when its waiting period ends", func(ctx SpecContext) {
		c, storeID := connectedStore(ctx)
		k := hsmKey(ctx, storeID)
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		keysOn := func(hsmID string) int {
			conn, err := c.Dial(ctx, hsmID)
			Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			info, err := conn.Info(ctx)
			Expect(err).NotTo(HaveOccurred())
			return info.Keys
		}
		for _, hsm := range hsms {
			Expect(keysOn(hsm.ID)).To(Equal(1), "the key is on %s", hsm.ID)
		}
		_, err = client().ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() string {
			_, err := client().DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
			return code(err)
		}).Should(Equal("NotFoundException"))
		for _, hsm := range hsms {
			Eventually(func() int { return keysOn(hsm.ID) }).Should(BeZero(), "the material is gone from %s", hsm.ID)
		}
	})

	It("answers operations it does not implement with UnsupportedOperationException", func(ctx SpecContext) {
		req, err := testenv.AWSJSONRequest(ctx, h.KMSEndpoint()+"/", "TrentService.GetKeyPolicy", []byte(`{"KeyId":"x","PolicyName":"default"}`),
			aws.Credentials{AccessKeyID: harness.AccessKeyID, SecretAccessKey: harness.SecretAccessKey}, "kms", h.Region(), time.Now())
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		Expect(resp.Header.Get("X-Amzn-ErrorType")).To(Equal("UnsupportedOperationException"))
	})

	It("serves the aws CLI", func(ctx SpecContext) {
		if _, err := exec.LookPath("aws"); err != nil {
			Skip("the aws CLI is not installed (Debian package awscli); CI installs it")
		}
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		run := func(args ...string) string {
			cmd := exec.CommandContext(ctx, "aws", append([]string{"kms", "--endpoint-url", h.KMSEndpoint(), "--region", h.Region(), "--output", "text"}, args...)...)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+harness.SecretAccessKey, "AWS_EC2_METADATA_DISABLED=true")
			cmd.Dir = dir
			out, err := cmd.Output()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				Fail("aws " + strings.Join(args, " ") + ": " + string(ee.Stderr))
			}
			Expect(err).NotTo(HaveOccurred())
			return strings.TrimSpace(string(out))
		}
		storeID := run("create-custom-key-store", "--custom-key-store-name", "cli-"+c.ID, "--cloud-hsm-cluster-id", c.ID,
			"--trust-anchor-certificate", "file://"+c.TrustAnchorFile, "--key-store-password", c.KMSUserPassword)
		cleanUp(storeID)
		Expect(storeID).To(MatchRegexp(`^cks-[0-9a-f]{17}$`))
		run("connect-custom-key-store", "--custom-key-store-id", storeID)
		Eventually(func() string {
			return run("describe-custom-key-stores", "--custom-key-store-id", storeID, "--query", "CustomKeyStores[0].ConnectionState")
		}).Should(Equal("CONNECTED"))
		keyID := run("create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", storeID, "--query", "KeyMetadata.KeyId")
		Expect(os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("through the aws CLI"), 0o600)).To(Succeed())
		blob := run("encrypt", "--key-id", keyID, "--plaintext", "fileb://plain.txt", "--encryption-context", "app=cli", "--query", "CiphertextBlob")
		raw, err := decodeBase64(blob)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "cipher.bin"), raw, 0o600)).To(Succeed())
		plain := run("decrypt", "--ciphertext-blob", "fileb://cipher.bin", "--encryption-context", "app=cli", "--query", "Plaintext")
		got, err := decodeBase64(plain)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Equal(got, []byte("through the aws CLI"))).To(BeTrue())

		// The CLI signs; a wrong secret is refused as AWS refuses it.
		wrong := exec.CommandContext(ctx, "aws", "kms", "--endpoint-url", h.KMSEndpoint(), "--region", h.Region(), "list-keys")
		wrong.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY=not-the-secret", "AWS_EC2_METADATA_DISABLED=true")
		out, err := wrong.CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("InvalidSignatureException"))
	})

	It("serves boto3, which signs every request", func(ctx SpecContext) {
		if exec.CommandContext(ctx, "python3", "-c", "import boto3").Run() != nil {
			Skip("boto3 is not installed (pip install boto3)")
		}
		script := `
import os, sys, boto3, botocore.exceptions
def client(service, endpoint, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ["REGION"],
                        aws_access_key_id=os.environ["KEY_ID"], aws_secret_access_key=secret)
kms = client("kms", os.environ["KMS"], os.environ["SECRET"])
key = kms.create_key()["KeyMetadata"]["KeyId"]
blob = kms.encrypt(KeyId=key, Plaintext=b"through boto3", EncryptionContext={"app": "boto3"})["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "boto3"})["Plaintext"] == b"through boto3"
assert len(kms.generate_random(NumberOfBytes=32)["Plaintext"]) == 32
client("cloudhsmv2", os.environ["CLOUDHSM"], os.environ["SECRET"]).describe_clusters()
try:
    client("kms", os.environ["KMS"], "not-the-secret").list_keys()
    sys.exit("a wrong secret was accepted")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
`
		cmd := exec.CommandContext(ctx, "python3", "-c", script)
		cmd.Env = append(os.Environ(), "KMS="+h.KMSEndpoint(), "CLOUDHSM="+h.CloudHSMEndpoint(), "REGION="+h.Region(),
			"KEY_ID="+harness.AccessKeyID, "SECRET="+harness.SecretAccessKey, "AWS_EC2_METADATA_DISABLED=true",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(strings.TrimSpace(string(out))).To(Equal("InvalidSignatureException"))
	})
})
