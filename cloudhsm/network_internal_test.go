package cloudhsm

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("A subnet's address pool", func() {
	It("hands out each usable address once, keeps AWS's reserved ones, and runs out", func() {
		n := network{subnets: map[string]*Subnet{}}
		s, err := n.add("vpc-1", "us-east-1a", 28)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.free()).To(Equal(11), "16 addresses less the 5 AWS reserves")
		_, err = s.allocate(s.CIDR.Masked().Addr().String(), "x")
		Expect(err).To(HaveOccurred(), "the network address")

		seen := map[string]bool{}
		for range 11 {
			ip, err := s.allocate("", "h")
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).NotTo(HaveKey(ip))
			seen[ip] = true
		}
		_, err = s.allocate("", "h")
		Expect(err).To(MatchError(ContainSubstring("no free IP addresses")))
		for ip := range seen {
			s.release(ip)
			break
		}
		Expect(s.free()).To(Equal(1))

		_, err = n.add("vpc-1", "us-east-1a", 30)
		Expect(err).To(HaveOccurred())
		other, err := n.add("vpc-1", "us-east-1b", 24)
		Expect(err).NotTo(HaveOccurred())
		Expect(other.CIDR.Overlaps(s.CIDR)).To(BeFalse())
	})
})
