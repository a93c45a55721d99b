package suites

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// faultReport is what healing a fault reports (control API).
type faultReport struct {
	KMSUserPassword string `json:"kmsuserPassword"`
	ClusterID       string `json:"clusterId"`
}

// control calls the target's fault control API (see the README); specs
// that need it skip with the reason when Config.Control is empty.
type control struct{ url string }

func needControl(s *suite) control {
	if s.cfg.Control == "" {
		ginkgo.Skip("needs the fault control API: set Config.Control (kmsharness: $KMSHARNESS_CONTROL)")
	}
	return control{url: s.cfg.Control}
}

func (c control) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var reader io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("control API %s %s: %s: %s", method, path, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// inject puts a fault in place and registers its heal for clean-up; the
// returned function heals it now and returns the report.
func (c control) inject(ctx context.Context, name, clusterID, hsmID string) func(ctx context.Context) faultReport {
	req := map[string]string{"name": name, "cluster": clusterID, "hsm": hsmID}
	gomega.Expect(c.do(ctx, http.MethodPost, "/faults", req, http.StatusCreated, nil)).To(gomega.Succeed(), "inject %s", name)
	healed := false
	var report faultReport
	heal := func(ctx context.Context) faultReport {
		if !healed {
			healed = true
			gomega.Expect(c.do(ctx, http.MethodPost, "/faults/heal", req, http.StatusOK, &report)).To(gomega.Succeed(), "heal %s", name)
		}
		return report
	}
	ginkgo.DeferCleanup(func(ctx context.Context) { heal(ctx) })
	return heal
}

// hsms returns the IDs of the cluster's HSMs.
func (c control) hsms(ctx context.Context, clusterID string) []string {
	var out struct {
		HSMs []struct {
			HSMID string `json:"hsmId"`
		} `json:"hsms"`
	}
	gomega.Expect(c.do(ctx, http.MethodGet, "/clusters/"+clusterID, nil, http.StatusOK, &out)).To(gomega.Succeed())
	ids := make([]string, 0, len(out.HSMs))
	for _, h := range out.HSMs {
		ids = append(ids, h.HSMID)
	}
	return ids
}
