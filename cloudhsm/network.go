package cloudhsm

import (
	"fmt"
	"net/netip"
	"sort"
)

// reservedAddresses is how many addresses AWS keeps in every subnet.
const reservedAddresses = 5

// Subnet is a subnet of the emulated VPC: an availability zone and a pool of
// addresses that HSMs (and KMS's network interfaces) draw from.
type Subnet struct {
	ID               string
	VPCID            string
	AvailabilityZone string
	CIDR             netip.Prefix
	used             map[netip.Addr]string // address -> holder (ENI or HSM ID)
	// Deleted subnets stay known so that clusters using them can be told
	// apart from clusters naming unknown subnets.
	Deleted bool
}

// SubnetInfo is a snapshot of a subnet.
type SubnetInfo struct {
	ID               string
	VPCID            string
	AvailabilityZone string
	CIDR             string
	FreeAddresses    int
	Deleted          bool
}

func (s *Subnet) capacity() int {
	return 1<<(32-s.CIDR.Bits()) - reservedAddresses
}

func (s *Subnet) free() int { return s.capacity() - len(s.used) }

func (s *Subnet) info() SubnetInfo {
	return SubnetInfo{ID: s.ID, VPCID: s.VPCID, AvailabilityZone: s.AvailabilityZone, CIDR: s.CIDR.String(), FreeAddresses: s.free(), Deleted: s.Deleted}
}

// allocate takes want (if valid) or the first free address for holder.
func (s *Subnet) allocate(want string, holder string) (string, error) {
	if s.free() <= 0 {
		return "", fmt.Errorf("subnet %s has no free IP addresses", s.ID)
	}
	if want != "" {
		addr, err := netip.ParseAddr(want)
		if err != nil || !s.CIDR.Contains(addr) {
			return "", fmt.Errorf("IP address %s is not in subnet %s (%s)", want, s.ID, s.CIDR)
		}
		if !s.usable(addr) {
			return "", fmt.Errorf("IP address %s is reserved in subnet %s", want, s.ID)
		}
		if _, taken := s.used[addr]; taken {
			return "", fmt.Errorf("IP address %s is already in use in subnet %s", want, s.ID)
		}
		s.used[addr] = holder
		return addr.String(), nil
	}
	for addr := s.CIDR.Masked().Addr(); s.CIDR.Contains(addr); addr = addr.Next() {
		if _, taken := s.used[addr]; !taken && s.usable(addr) {
			s.used[addr] = holder
			return addr.String(), nil
		}
	}
	return "", fmt.Errorf("subnet %s has no free IP addresses", s.ID)
}

// usable excludes the addresses AWS reserves: the first four and the last.
func (s *Subnet) usable(addr netip.Addr) bool {
	offset := ipv4(addr) - ipv4(s.CIDR.Masked().Addr())
	size := uint32(1) << (32 - s.CIDR.Bits())
	return offset >= 4 && offset < size-1
}

func ipv4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (s *Subnet) release(ip string) {
	if addr, err := netip.ParseAddr(ip); err == nil {
		delete(s.used, addr)
	}
}

// network is the emulated VPCs and subnets.
type network struct {
	subnets   map[string]*Subnet
	nextBlock int
}

// add creates a subnet. Each subnet gets its own /20 block of 10.0.0.0/8,
// so prefix lengths from 20 (4,091 usable addresses) to 28 (11) fit.
func (n *network) add(vpcID, az string, prefixLen int) (*Subnet, error) {
	if prefixLen < 20 || prefixLen > 28 {
		return nil, fmt.Errorf("subnet prefix length must be 20 to 28, got %d", prefixLen)
	}
	if n.nextBlock >= 1<<12 {
		return nil, fmt.Errorf("no address space left for another subnet")
	}
	block := uint32(10)<<24 | uint32(n.nextBlock)<<12
	n.nextBlock++
	base := netip.AddrFrom4([4]byte{byte(block >> 24), byte(block >> 16), byte(block >> 8), byte(block)})
	s := &Subnet{ID: newHexID("subnet-"), VPCID: vpcID, AvailabilityZone: az, CIDR: netip.PrefixFrom(base, prefixLen), used: map[netip.Addr]string{}}
	n.subnets[s.ID] = s
	return s, nil
}

func (n *network) list() []SubnetInfo {
	out := make([]SubnetInfo, 0, len(n.subnets))
	for _, s := range n.subnets {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AvailabilityZone+out[i].ID < out[j].AvailabilityZone+out[j].ID })
	return out
}
