// Package preflighttest checks suites.Preflight against a real harness and
// against endpoints that do not answer.
package preflighttest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/suites"
)

func TestPreflight(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "suites preflight")
}

var (
	h       *harness.Harness
	cluster *harness.Cluster
)

var _ = testenv.HarnessPerProcess(&h, func(h *harness.Harness) {
	var err error
	cluster, err = h.NewCluster(context.Background())
	Expect(err).NotTo(HaveOccurred())
})

// good is a config the preflight passes.
func good() suites.Config {
	return suites.Config{
		Endpoint: h.KMSEndpoint(), CloudHSMEndpoint: h.CloudHSMEndpoint(), Region: h.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, ""),
		Clusters:    []suites.Cluster{{ID: cluster.ID, TrustAnchorPEM: string(cluster.TrustAnchorPEM), KMSUserPassword: cluster.KMSUserPassword}},
		Control:     h.ControlClient(),
	}
}

// failsOn matches a *suites.PreflightError of the given check.
func failsOn(check string, text string) OmegaMatcher {
	return SatisfyAll(
		WithTransform(func(err error) string {
			var pe *suites.PreflightError
			if errors.As(err, &pe) {
				return pe.Check
			}
			return ""
		}, Equal(check)),
		MatchError(ContainSubstring(text)),
		WithTransform(func(err error) string { return err.Error() }, Not(ContainSubstring("\n"))))
}

var _ = Describe("Preflight", func() {
	It("passes a target that answers, with credentials, ACTIVE clusters and a control API", func(ctx SpecContext) {
		Expect(suites.Preflight(ctx, good())).To(Succeed())
	})

	It("says so in one line when the endpoint does not answer", func(ctx SpecContext) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		dead := "http://" + l.Addr().String()
		Expect(l.Close()).To(Succeed())
		cfg := good()
		cfg.Endpoint = dead
		Expect(suites.Preflight(ctx, cfg)).To(failsOn("endpoint", dead+" does not answer"))
	})

	It("says so when credentials are missing, without asking the EC2 metadata address", func(ctx SpecContext) {
		cfg := good()
		cfg.Credentials = nil
		Expect(suites.Preflight(ctx, cfg)).To(failsOn("credentials", "AWS_ACCESS_KEY_ID"))

		for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
			if old, ok := os.LookupEnv(name); ok {
				DeferCleanup(os.Setenv, name, old)
				Expect(os.Unsetenv(name)).To(Succeed())
			}
		}
		for name, value := range map[string]string{"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
			GinkgoT().Setenv(name, value)
		}
		awsCfg, err := suites.LoadAWSConfig(ctx)
		Expect(err).NotTo(HaveOccurred())
		cfg.Credentials = awsCfg.Credentials
		err = suites.Preflight(ctx, cfg)
		Expect(err).To(failsOn("credentials", "none found"))
		// The SDK's metadata client was off: it refused to ask, rather
		// than asking 169.254.169.254 and waiting for an answer.
		Expect(err.Error()).To(ContainSubstring("access disabled to EC2 IMDS via client option"))
		Expect(err.Error()).NotTo(ContainSubstring("169.254.169.254"))
	})

	It("says so when the endpoint refuses the credentials", func(ctx SpecContext) {
		cfg := good()
		cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", "wrong", "")
		Expect(suites.Preflight(ctx, cfg)).To(failsOn("endpoint", "UnrecognizedClientException"))
	})

	It("says so when the control API refuses its token", func(ctx SpecContext) {
		cfg := good()
		var err error
		cfg.Control, err = control.NewClient(h.ControlEndpoint(), "not-the-token", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(suites.Preflight(ctx, cfg)).To(failsOn("control", h.ControlEndpoint()))
	})

	It("says so when a given cluster does not exist", func(ctx SpecContext) {
		cfg := good()
		cfg.Clusters = append(cfg.Clusters, suites.Cluster{ID: "cluster-234567abcde"})
		Expect(suites.Preflight(ctx, cfg)).To(failsOn("clusters", "cluster-234567abcde does not exist"))
	})

	It("needs no CloudHSMv2 endpoint", func(ctx SpecContext) {
		cfg := good()
		cfg.CloudHSMEndpoint = ""
		cfg.Clusters = append(cfg.Clusters, suites.Cluster{ID: "cluster-234567abcde"})
		Expect(suites.Preflight(ctx, cfg)).To(Succeed())
	})
})
