package sdkbody_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSDKBody(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "sdkbody")
}
