package harness_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kmssdk "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/harness"
)

var _ = Describe("The control API", func() {
	// raw sends one request to the control API and returns the status and
	// body of the answer.
	raw := func(method, path, contentType, token, body string) (int, string) {
		req, err := http.NewRequest(method, h.ControlEndpoint()+path, strings.NewReader(body))
		Expect(err).NotTo(HaveOccurred())
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"), "every answer is JSON")
		return resp.StatusCode, string(b)
	}

	It("refuses requests without its bearer token, or with another one", func() {
		for _, token := range []string{"", "not-" + h.ControlToken(), h.ControlToken() + "x"} {
			status, body := raw(http.MethodGet, "/faults", "", token, "")
			Expect(status).To(Equal(http.StatusUnauthorized), "token %q", token)
			Expect(body).To(ContainSubstring(`"error"`))
			Expect(body).NotTo(ContainSubstring("user-locked-out"))
		}
		status, _ := raw(http.MethodPost, "/clusters", "application/json", "", `{"hsms":1}`)
		Expect(status).To(Equal(http.StatusUnauthorized), "no cluster for a request without the token")
	})

	It("takes only application/json bodies, so a web page cannot post to it", func() {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
			status, _ := raw(http.MethodPost, "/clusters", ct, h.ControlToken(), `{"hsms":1}`)
			Expect(status).To(Equal(http.StatusUnsupportedMediaType), "Content-Type %q", ct)
		}
	})

	It("answers malformed bodies with 400, not with a new cluster", func() {
		for _, body := range []string{`{"hsms":0}`, `{"hsms":-1}`, `{"hsms":29}`, `null`, `[]`, `"x"`, `{"hsms":1} trailing`,
			`{"hsms":1}{"hsms":1}`, `{"hsm":1}`, `{"hsms":"2"}`, `{"hsms":1.5}`, ``, `{`} {
			status, answer := raw(http.MethodPost, "/clusters", "application/json", h.ControlToken(), body)
			Expect(status).To(Equal(http.StatusBadRequest), "body %q: %s", body, answer)
		}
		for _, body := range []string{`{"name":"user-locked-out"}`, `{"cluster":"cluster-aaaaaaaaaaa"}`, `null`,
			`{"name":"user-locked-out","cluster":"cluster-aaaaaaaaaaa","extra":1}`} {
			status, answer := raw(http.MethodPost, "/faults", "application/json", h.ControlToken(), body)
			Expect(status).To(Equal(http.StatusBadRequest), "body %q: %s", body, answer)
		}
	})

	It("answers the caller's mistakes with 4xx: unknown paths, methods, faults, clusters and HSMs", func(ctx SpecContext) {
		status, _ := raw(http.MethodGet, "/nope", "", h.ControlToken(), "")
		Expect(status).To(Equal(http.StatusNotFound))
		status, _ = raw(http.MethodPut, "/faults", "", h.ControlToken(), "")
		Expect(status).To(Equal(http.StatusMethodNotAllowed))
		c := newCluster()
		client := h.ControlClient()
		Expect(client.InjectFault(ctx, control.FaultRequest{Name: "no-such-fault", Cluster: c.ID})).To(MatchError(control.ErrBadRequest))
		Expect(client.InjectFault(ctx, control.FaultRequest{Name: "user-locked-out", Cluster: "cluster-aaaaaaaaaaa"})).To(MatchError(control.ErrNotFound))
		Expect(client.InjectFault(ctx, control.FaultRequest{Name: "node-killed", Cluster: c.ID})).To(MatchError(control.ErrBadRequest), "an HSM fault without its HSM")
		Expect(client.InjectFault(ctx, control.FaultRequest{Name: "node-killed", Cluster: c.ID, HSM: "hsm-aaaaaaaaaaa"})).To(MatchError(control.ErrNotFound))
		_, err := client.HealFault(ctx, control.FaultRequest{Name: "user-locked-out", Cluster: c.ID})
		Expect(err).To(MatchError(control.ErrNotFound), "heal of a fault not in place")
		_, err = client.Cluster(ctx, "cluster-aaaaaaaaaaa")
		Expect(err).To(MatchError(control.ErrNotFound))
	})

	It("describes itself", func(ctx SpecContext) {
		info, err := h.ControlClient().Info(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Protocol).To(Equal(control.Protocol))
		Expect(info.Version).To(Equal(control.Version))
		Expect(info.Has(control.FeatureClusters)).To(BeTrue())
		Expect(info.Has(control.FeatureFaults)).To(BeTrue())
	})

	It("makes clusters and deletes them, and a deleted cluster's nodes are gone", func(ctx SpecContext) {
		client := h.ControlClient()
		made, err := client.NewCluster(ctx, 3)
		Expect(err).NotTo(HaveOccurred())
		info, err := client.Cluster(ctx, made.ClusterID)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.State).To(Equal("ACTIVE"))
		Expect(info.HSMs).To(HaveLen(3))
		var pids []int
		for _, hsm := range info.HSMs {
			pid, err := h.Processes().PID(hsm.HSMID)
			Expect(err).NotTo(HaveOccurred())
			pids = append(pids, pid)
		}
		// A fault in place goes with its cluster.
		Expect(client.InjectFault(ctx, control.FaultRequest{Name: "node-hung", Cluster: made.ClusterID, HSM: info.HSMs[0].HSMID})).To(Succeed())

		Expect(client.DeleteCluster(ctx, made.ClusterID)).To(Succeed())
		for _, pid := range pids {
			Eventually(func() bool { return alive(pid) }).Should(BeFalse(), "node %d stopped", pid)
		}
		_, known := h.ClusterByID(made.ClusterID)
		Expect(known).To(BeFalse())
		Expect(client.DeleteCluster(ctx, made.ClusterID)).To(MatchError(control.ErrNotFound), "deleted twice")
		Expect(client.InjectFault(ctx, control.FaultRequest{Name: "user-locked-out", Cluster: made.ClusterID})).To(MatchError(control.ErrNotFound))
	})

	It("holds a store in CONNECTING until the hold is released", func(ctx SpecContext) {
		c := newCluster()
		client := kmssdk.New(kmssdk.Options{Region: h.Region(), BaseEndpoint: aws.String(h.KMSEndpoint()),
			Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
		created, err := client.CreateCustomKeyStore(ctx, &kmssdk.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("held-" + c.ID),
			CloudHsmClusterId: aws.String(c.ID), TrustAnchorCertificate: aws.String(string(c.TrustAnchorPEM)), KeyStorePassword: aws.String(c.KMSUserPassword)})
		Expect(err).NotTo(HaveOccurred())
		storeID := aws.ToString(created.CustomKeyStoreId)
		state := func() kmstypes.ConnectionStateType {
			out, err := client.DescribeCustomKeyStores(ctx, &kmssdk.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
			Expect(err).NotTo(HaveOccurred())
			return out.CustomKeyStores[0].ConnectionState
		}

		ctl := h.ControlClient()
		hold, err := ctl.Hold(ctx, control.HoldRequest{Store: storeID, Transition: control.TransitionConnect})
		Expect(err).NotTo(HaveOccurred())
		Expect(hold.Holding).To(BeFalse(), "armed, not holding yet")
		_, err = ctl.Hold(ctx, control.HoldRequest{Store: storeID, Transition: control.TransitionConnect})
		Expect(err).To(MatchError(control.ErrConflict), "a second hold on the same transition")

		_, err = client.ConnectCustomKeyStore(ctx, &kmssdk.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool {
			got, err := ctl.HoldState(ctx, hold.HoldID)
			Expect(err).NotTo(HaveOccurred())
			return got.Holding
		}).Should(BeTrue())
		Expect(state()).To(Equal(kmstypes.ConnectionStateTypeConnecting), "held in CONNECTING")

		Expect(ctl.Release(ctx, hold.HoldID)).To(Succeed())
		Eventually(state).Should(Equal(kmstypes.ConnectionStateTypeConnected))
		got, err := ctl.HoldState(ctx, hold.HoldID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Ended).To(BeTrue())
		Expect(ctl.Release(ctx, hold.HoldID)).To(Succeed(), "releasing an ended hold")

		_, err = ctl.Hold(ctx, control.HoldRequest{Store: "cks-0123456789abcdef0", Transition: control.TransitionConnect})
		Expect(err).To(MatchError(control.ErrNotFound), "a hold on an unknown store")
		_, err = ctl.HoldState(ctx, "hold-nope")
		Expect(err).To(MatchError(control.ErrNotFound))
		Expect(ctl.Release(ctx, "hold-nope")).To(MatchError(control.ErrNotFound))
	})

	It("answers a fault that cannot act on the cluster as it is with 409, not 500", func(ctx SpecContext) {
		c := newCluster()
		hsms, err := c.HSMs()
		Expect(err).NotTo(HaveOccurred())
		ctl := h.ControlClient()
		kill := control.FaultRequest{Name: "node-killed", Cluster: c.ID, HSM: hsms[0].ID}
		Expect(ctl.InjectFault(ctx, kill)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { _, _ = ctl.HealFault(ctx, kill) })
		err = ctl.InjectFault(ctx, control.FaultRequest{Name: "node-hung", Cluster: c.ID, HSM: hsms[0].ID})
		Expect(err).To(HaveOccurred())
		var se *control.StatusError
		Expect(errors.As(err, &se)).To(BeTrue())
		Expect(se.Status).To(BeNumerically("<", 500), "pausing a node that is not running: %v", err)
	})
})
