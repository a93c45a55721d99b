package cloudhsm

import (
	"crypto/rand"
	"encoding/hex"
)

const base32Lower = "abcdefghijklmnopqrstuvwxyz234567"

// newID returns prefix + n characters of [a-z2-7], the form of cluster,
// HSM and backup IDs.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base32Lower[int(b[i])%len(base32Lower)]
	}
	return prefix + string(b)
}

// newHexID returns prefix + 17 lower-case hex digits (ENI, VPC, subnet and
// security group IDs).
func newHexID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)[:17]
}

func newPassword() string {
	return newID("", 24)
}
