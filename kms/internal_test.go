package kms

import (
	"bytes"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

var _ = Describe("Pagination markers", func() {
	m := markers{secret: bytes.Repeat([]byte{1}, 32)}
	items := []uint64{2, 5, 9, 11, 12}
	seq := func(v uint64) uint64 { return v }

	It("page through every item once, in order, with Truncated ⇔ next", func() {
		var got []uint64
		marker := ""
		for {
			out, next, err := page(m, "keys", items, seq, marker, 2)
			Expect(err).NotTo(HaveOccurred())
			got = append(got, out...)
			if next == "" {
				break
			}
			marker = next
		}
		Expect(got).To(Equal(items))
	})

	It("stay valid when items are added after them", func() {
		_, next, err := page(m, "keys", items, seq, "", 2)
		Expect(err).NotTo(HaveOccurred())
		out, _, err := page(m, "keys", append([]uint64{1}, append(items, 20)...), seq, next, 10)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]uint64{9, 11, 12, 20}))
	})

	It("refuse forged, altered and foreign markers", func() {
		_, next, _ := page(m, "keys", items, seq, "", 1)
		for _, bad := range []string{"forged", next[:len(next)-2] + "AA", m.make("aliases", 5), markers{secret: bytes.Repeat([]byte{2}, 32)}.make("keys", 5)} {
			_, _, err := page(m, "keys", items, seq, bad, 1)
			var ae *awsjson.Error
			Expect(err).To(BeAssignableToTypeOf(ae), bad)
			Expect(err.(*awsjson.Error).Type).To(Equal("InvalidMarkerException"))
		}
	})
})

var _ = Describe("The ciphertext format", func() {
	It("round-trips and names its key", func() {
		id := uuid.NewString()
		blob := ciphertext{keyID: id, iv: bytes.Repeat([]byte{7}, 12), body: bytes.Repeat([]byte{9}, 40)}.marshal()
		ct, err := parseCiphertext(blob)
		Expect(err).NotTo(HaveOccurred())
		Expect(ct.keyID).To(Equal(id))
		Expect(ct.iv).To(HaveLen(12))
		Expect(ct.body).To(HaveLen(40))
	})

	It("refuses short, foreign and unversioned blobs", func() {
		good := ciphertext{keyID: uuid.NewString(), iv: make([]byte, 12), body: make([]byte, 16)}.marshal()
		for _, bad := range [][]byte{nil, good[:20], append([]byte("XX"), good[2:]...), append(append([]byte{}, good[:2]...), append([]byte{9}, good[3:]...)...)} {
			_, err := parseCiphertext(bad)
			Expect(err).To(MatchError(errMalformedCiphertext))
		}
	})

	It("binds the encryption context whatever its order, and every pair of it", func() {
		a := associatedData("arn", map[string]string{"x": "1", "y": "2"})
		Expect(associatedData("arn", map[string]string{"y": "2", "x": "1"})).To(Equal(a))
		Expect(associatedData("arn", map[string]string{"x": "1"})).NotTo(Equal(a))
		Expect(associatedData("arn2", map[string]string{"x": "1", "y": "2"})).NotTo(Equal(a))
		Expect(associatedData("arn", map[string]string{"x": "1", "y": "2\"}"})).NotTo(Equal(a))
	})
})

var _ = Describe("Handler bounds (a second line behind the model check)", func() {
	m := markers{secret: bytes.Repeat([]byte{1}, 32)}
	items := []uint64{1, 2, 3}
	seq := func(v uint64) uint64 { return v }

	It("page never fails, whatever the limit", func() {
		for _, limit := range []int{-1, 0, 1, 1 << 62, int(^uint(0) >> 1)} {
			out, _, err := page(m, "keys", items, seq, "", limit)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).NotTo(BeEmpty(), "limit %d", limit)
		}
		_, next, _ := page(m, "keys", items, seq, "", 1)
		out, _, err := page(m, "keys", items, seq, next, int(^uint(0)>>1))
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]uint64{2, 3}))
	})
})
