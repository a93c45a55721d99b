package cloudhsm

import (
	"testing"
)

func TestSubnetAddressPool(t *testing.T) {
	n := network{subnets: map[string]*Subnet{}}
	s, err := n.add("vpc-1", "us-east-1a", 28)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.free(); got != 11 {
		t.Fatalf("a /28 has %d free addresses, want 11 (16 less the 5 AWS reserves)", got)
	}
	if _, err := s.allocate(s.CIDR.Masked().Addr().String(), "x"); err == nil {
		t.Fatal("the network address was handed out")
	}
	seen := map[string]bool{}
	for i := range 11 {
		ip, err := s.allocate("", "h")
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[ip] {
			t.Fatalf("address %s handed out twice", ip)
		}
		seen[ip] = true
	}
	if _, err := s.allocate("", "h"); err == nil {
		t.Fatal("an exhausted subnet handed out an address")
	}
	for ip := range seen {
		s.release(ip)
		break
	}
	if s.free() != 1 {
		t.Fatalf("after one release, free = %d, want 1", s.free())
	}
	if _, err := n.add("vpc-1", "us-east-1a", 30); err == nil {
		t.Fatal("a /30 subnet was accepted")
	}
	other, _ := n.add("vpc-1", "us-east-1b", 24)
	if other.CIDR.Overlaps(s.CIDR) {
		t.Fatalf("subnets overlap: %s and %s", other.CIDR, s.CIDR)
	}
}
