package suites

import (
	"context"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
)

// faultControl is the target's fault-control API, for the specs that need
// it; they skip with the reason when Config.Control is nil.
type faultControl struct{ client *control.Client }

func needControl(s *suite) faultControl {
	if s.cfg.Control == nil {
		ginkgo.Skip("needs the fault control API: set Config.Control (kmsharness: $" + control.EnvURL + " and $" + control.EnvToken + ")")
	}
	return faultControl{client: s.cfg.Control}
}

// inject puts a fault in place and registers its heal for clean-up; the
// returned function heals it now and returns what the heal reported.
func (c faultControl) inject(ctx context.Context, name, clusterID, hsmID string) func(ctx context.Context) control.HealReport {
	req := control.FaultRequest{Name: name, Cluster: clusterID, HSM: hsmID}
	gomega.Expect(c.client.InjectFault(ctx, req)).To(gomega.Succeed(), "inject %s", name)
	healed := false
	var report control.HealReport
	heal := func(ctx context.Context) control.HealReport {
		if !healed {
			healed = true
			var err error
			report, err = c.client.HealFault(ctx, req)
			gomega.Expect(err).NotTo(gomega.HaveOccurred(), "heal %s", name)
		}
		return report
	}
	ginkgo.DeferCleanup(func(ctx context.Context) { heal(ctx) })
	return heal
}

// hsms returns the IDs of the cluster's HSMs.
func (c faultControl) hsms(ctx context.Context, clusterID string) []string {
	info, err := c.client.Cluster(ctx, clusterID)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	ids := make([]string, 0, len(info.HSMs))
	for _, h := range info.HSMs {
		ids = append(ids, h.HSMID)
	}
	return ids
}
