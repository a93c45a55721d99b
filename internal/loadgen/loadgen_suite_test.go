package loadgen_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

func TestLoadgen(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "loadgen")
}

// h is this test process's harness.
var h *harness.Harness

var _ = testenv.HarnessPerProcess(&h, nil)
