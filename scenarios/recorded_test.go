package scenarios_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/scenarios"
)

// Histories recorded from real defects (testdata/histories): the
// kmsharness front end before the fixes of the correctness issue, and one
// found in today's. Checking them again must find each defect, on its check.
var _ = Describe("Recorded histories of real defects", func() {
	DescribeTable("are failed on the check the defect breaks",
		func(file, check, message string) {
			h, err := scenarios.ReadHistory(filepath.Join("testdata", "histories", file))
			Expect(err).NotTo(HaveOccurred())
			var found []string
			for _, v := range scenarios.Check(h) {
				if v.Check != check {
					continue
				}
				Expect(v.Status).To(Equal(scenarios.StatusFail))
				for _, vi := range v.Violations {
					found = append(found, vi.Message)
				}
			}
			Expect(found).To(ContainElement(ContainSubstring(message)))
		},
		Entry("Connect racing Delete: both accepted, the store gone while its connect runs",
			"connect-racing-delete.json", scenarios.CheckConnectionStates, "follow no order of the state machine"),
		Entry("identical concurrent CreateCustomKeyStore: CloudHsmClusterInUseException for the twin",
			"identical-concurrent-create.json", scenarios.CheckConnectionStates, "answered CloudHsmClusterInUseException instead of the store the other made"),
		Entry("CreateKey under concurrency: KMSInternalException with nothing wrong",
			"createkey-concurrency.json", scenarios.CheckErrors, "CreateKey answered KMSInternalException (HTTP 500) at once"),
		Entry("network-errors refused before a store connected once",
			"network-errors-before-first-connect.json", scenarios.CheckSchedule, "refused inject network-errors"),
		Entry("an abandoned connect keeps kmsuser logged in: later connects fail USER_LOGGED_IN",
			"abandoned-connect-keeps-kmsuser-logged-in.json", scenarios.CheckConnectionStates, "FAILED with USER_LOGGED_IN, but nothing in place"),
		Entry("… and the store does not come back",
			"abandoned-connect-keeps-kmsuser-logged-in.json", scenarios.CheckLiveness, "was not CONNECTED within 30s"),
	)
})
