package awsjson_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestAWSJSON(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "awsjson")
}
