package suites

import (
	"encoding/xml"
	"fmt"
	"io"

	"github.com/onsi/ginkgo/v2/reporters"
)

// WriteJUnit writes the report as JUnit XML: one testsuite, one testcase per
// rule (named by its ID and text, classed by its operation), a failure or
// skip with the one-line reason; inconclusive rules are skipped with a
// message that says so. Set-up nodes are no testcases: their failures count
// as the testsuite's errors, each in a SuiteFailure property.
func (r Report) WriteJUnit(w io.Writer) error {
	c := r.Counts()
	suite := reporters.JUnitTestSuite{
		Name: "KMS custom key store conformance", Package: r.Endpoint, Tests: c.Total(), Skipped: c.Skip + c.Inconclusive,
		Failures: c.Fail, Errors: len(r.SuiteFailures), Time: r.Duration.Seconds(), Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"),
		Properties: reporters.JUnitProperties{Properties: []reporters.JUnitProperty{
			{Name: "KitVersion", Value: r.KitVersion}, {Name: "ModelVersion", Value: r.ModelVersion},
			{Name: "Endpoint", Value: r.Endpoint}, {Name: "RandomSeed", Value: fmt.Sprint(r.Seed)}, {Name: "Budget", Value: r.Budget},
		}},
	}
	for _, f := range r.SuiteFailures {
		suite.Properties.Properties = append(suite.Properties.Properties, reporters.JUnitProperty{Name: "SuiteFailure", Value: f})
	}
	for _, res := range r.Results {
		tc := reporters.JUnitTestCase{Name: res.ID + " " + res.Text, Classname: res.Operation, Status: string(res.Status), Time: res.Duration.Seconds()}
		switch res.Status {
		case StatusFail:
			tc.Failure = &reporters.JUnitFailure{Message: res.Reason, Type: "fail", Description: res.Reason + "\nat " + res.Location}
		case StatusInconclusive:
			tc.Skipped = &reporters.JUnitSkipped{Message: InconclusivePrefix + res.Reason}
		case StatusSkip:
			tc.Skipped = &reporters.JUnitSkipped{Message: res.Reason}
		}
		suite.TestCases = append(suite.TestCases, tc)
	}
	suites := reporters.JUnitTestSuites{Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time,
		TestSuites: []reporters.JUnitTestSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
