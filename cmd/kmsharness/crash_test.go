package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	kmsfront "github.com/kmsharness/kmsharness/kms"
)

// rotationInstants are the instants around the kmsuser password rotation of
// a 3-HSM store's reconnect at which the crash spec kills `up`: before the
// rotation, after each HSM changed the password, after all did, and after
// KMS recorded the connect.
var rotationInstants = []string{
	string(kmsfront.StepConnectLoggedIn),
	string(kmsfront.StepRotationPendingSaved),
	string(kmsfront.StepRotationHSMChanged) + "#1",
	string(kmsfront.StepRotationHSMChanged) + "#2",
	string(kmsfront.StepRotationHSMChanged) + "#3",
	string(kmsfront.StepRotationDone),
	string(kmsfront.StepConnectSettled),
}

// upRun is one run of `kmsharness up --data-dir`.
type upRun struct {
	session *gexec.Session
	vars    map[string]string
}

// startUp runs `kmsharness up --print-env --data-dir dir` with more
// arguments; with wait it returns once the environment is printed.
func startUp(dir string, wait bool, args ...string) *upRun {
	cmd := exec.Command(bin, append([]string{"up", "--print-env", "--hsms", "3", "--data-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "KMSHARNESS_HSMNODE=")
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Kill() })
	run := &upRun{session: session}
	if wait {
		Eventually(session.Out).WithTimeout(2 * time.Minute).Should(gbytes.Say("AWS_SECRET_ACCESS_KEY"))
		run.vars = readExports(strings.NewReader(string(session.Out.Contents())), "AWS_SECRET_ACCESS_KEY")
	}
	return run
}

// kill ends the run with SIGKILL and waits until its HSM nodes are gone
// too (they exit when the harness's pipe to them closes).
func (r *upRun) kill(dir string) {
	r.session.Kill()
	Eventually(r.session).Should(gexec.Exit())
	Eventually(func() []string { return nodesUnder(dir) }).Should(BeEmpty(), "the nodes of the killed run exit")
}

func (r *upRun) client() *kms.Client {
	return kms.New(kms.Options{Region: r.vars["AWS_REGION"], BaseEndpoint: aws.String(r.vars["KMS_ENDPOINT"]),
		Credentials: credentials.NewStaticCredentialsProvider(r.vars["AWS_ACCESS_KEY_ID"], r.vars["AWS_SECRET_ACCESS_KEY"], ""),
		// The spec polls; a retry would only hide an answer.
		RetryMaxAttempts: 1})
}

// sealed is a ciphertext and what it must decrypt to.
type sealed struct {
	keyID     string
	blob      []byte
	plaintext string
}

var _ = Describe("kmsharness up --data-dir killed around the kmsuser password rotation", Label("kind:slow"), func() {
	It("comes back every time with every key and ciphertext, and the store CONNECTED again by itself", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		first := startUp(dir, true)
		c := first.client()
		out, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("crash"),
			CloudHsmClusterId: aws.String(first.vars["CLUSTER_ID"]), KeyStorePassword: aws.String(first.vars["KMSUSER_PASSWORD"]),
			TrustAnchorCertificate: aws.String(string(must(os.ReadFile(first.vars["TRUST_ANCHOR_FILE"]))))})
		Expect(err).NotTo(HaveOccurred())
		store := out.CustomKeyStoreId
		_, err = c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store})
		Expect(err).NotTo(HaveOccurred())
		waitConnected(ctx, c, store)

		var texts []sealed
		for i := range 12 {
			in := &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: store}
			if i%4 == 3 {
				in = &kms.CreateKeyInput{Description: aws.String("in KMS")}
			}
			key, err := c.CreateKey(ctx, in)
			Expect(err).NotTo(HaveOccurred())
			plaintext := fmt.Sprintf("secret %d", i)
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte(plaintext)})
			Expect(err).NotTo(HaveOccurred())
			texts = append(texts, sealed{keyID: aws.ToString(key.KeyMetadata.KeyId), blob: enc.CiphertextBlob, plaintext: plaintext})
		}
		first.kill(dir)

		// Each instant gets two kills in a row (the second while the store
		// reconnects from the first), then a run that must come back.
		for i, instant := range rotationInstants {
			for _, at := range []string{instant, rotationInstants[(i+3)%len(rotationInstants)]} {
				By("killing up at " + at)
				paused := startUp(dir, false, "--pause-at", at)
				Eventually(paused.session.Err).WithTimeout(2*time.Minute).Should(gbytes.Say("paused at "+at), "up reaches %s", at)
				paused.kill(dir)
			}
			By("restarting after the kills at " + instant)
			next := startUp(dir, true)
			c := next.client()
			waitConnected(ctx, c, store)
			for _, t := range texts {
				dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: t.blob})
				Expect(err).NotTo(HaveOccurred(), "ciphertext of %s after the kills at %s", t.keyID, instant)
				Expect(string(dec.Plaintext)).To(Equal(t.plaintext))
				d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(t.keyID)})
				Expect(err).NotTo(HaveOccurred())
				Expect(d.KeyMetadata.KeyState).To(Equal(types.KeyStateEnabled))
			}
			next.kill(dir)
		}
	})
})

// waitConnected waits until the store is CONNECTED, failing at once if it
// ends FAILED.
func waitConnected(ctx context.Context, c *kms.Client, store *string) {
	Eventually(func(g Gomega) types.ConnectionStateType {
		out, err := c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: store})
		g.Expect(err).NotTo(HaveOccurred())
		st := out.CustomKeyStores[0]
		if st.ConnectionState == types.ConnectionStateTypeFailed {
			StopTrying(fmt.Sprintf("the store is FAILED %s", st.ConnectionErrorCode)).Now()
		}
		return st.ConnectionState
	}).WithTimeout(time.Minute).Should(Equal(types.ConnectionStateTypeConnected))
}

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}
