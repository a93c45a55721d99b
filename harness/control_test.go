package harness_test

import (
	"context"
	"io"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
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

	It("says that it does not serve holds yet rather than failing", func(ctx context.Context) {
		_, err := h.ControlClient().Hold(ctx, control.HoldRequest{Store: "cks-aaaaaaaaaaaaaaaaa", Transition: control.TransitionConnect})
		Expect(err).To(MatchError(control.ErrUnsupported))
	})
})
