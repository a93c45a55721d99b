package softhsm_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/softhsm"
)

var tokenCounter int

// newToken creates and opens a fresh token sharing the given trusted key.
func newToken(trusted []byte) *softhsm.Token {
	tokenCounter++
	label := fmt.Sprintf("tok-%d-%d", GinkgoParallelProcess(), tokenCounter)
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	Expect(module.CreateToken(softhsm.TokenSpec{
		Label: label, SOPIN: "so-secret", UserPIN: "user-secret",
		TrustedKeys: map[string][]byte{"wrap": trusted},
		SealingKeys: map[string][]byte{"seal": seal},
	})).To(Succeed())
	tok, err := module.OpenToken(label, "user-secret")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(tok.Close)
	return tok
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

var _ = Describe("Token", func() {
	var tok *softhsm.Token
	BeforeEach(func() {
		tok = newToken(randomKey())
		Expect(tok.GenerateKey(softhsm.KeyOptions{ID: "k1", Label: "arn:aws:kms:us-east-1:111122223333:key/one"})).To(Succeed())
	})

	It("is found by label and refuses a wrong PIN or an unknown label", func() {
		Expect(module.HasToken(tok.Label())).To(BeTrue())
		_, err := module.OpenToken("no-such-token", "user-secret")
		Expect(err).To(MatchError(softhsm.ErrTokenNotFound))
		Expect(module.CreateToken(softhsm.TokenSpec{Label: tok.Label(), SOPIN: "x1234", UserPIN: "y1234"})).To(MatchError(ContainSubstring("already exists")))
	})

	It("encrypts with AES-GCM under an HSM-chosen 12-byte IV and decrypts", func() {
		plaintext := bytes.Repeat([]byte("p"), 4096)
		aad := []byte("context")
		iv1, ct1, err := tok.Encrypt("k1", plaintext, aad)
		Expect(err).NotTo(HaveOccurred())
		Expect(iv1).To(HaveLen(softhsm.GCMIVSize))
		Expect(ct1).To(HaveLen(len(plaintext) + softhsm.GCMTagSize))
		iv2, ct2, err := tok.Encrypt("k1", plaintext, aad)
		Expect(err).NotTo(HaveOccurred())
		Expect(iv2).NotTo(Equal(iv1))
		Expect(ct2).NotTo(Equal(ct1))

		out, err := tok.Decrypt("k1", iv1, ct1, aad)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal(plaintext))
	})

	It("rejects tampered ciphertext, a wrong AAD, a wrong IV size and oversized input", func() {
		iv, ct, err := tok.Encrypt("k1", []byte("secret"), []byte("aad"))
		Expect(err).NotTo(HaveOccurred())
		_, err = tok.Decrypt("k1", iv, ct, []byte("other"))
		Expect(err).To(MatchError(softhsm.ErrInvalidCiphertext))
		bad := bytes.Clone(ct)
		bad[0] ^= 1
		_, err = tok.Decrypt("k1", iv, bad, []byte("aad"))
		Expect(err).To(MatchError(softhsm.ErrInvalidCiphertext))
		_, err = tok.Decrypt("k1", iv[:8], ct, []byte("aad"))
		Expect(err).To(MatchError(softhsm.ErrInvalidParameter))
		_, _, err = tok.Encrypt("k1", make([]byte, softhsm.MaxGCMInput+1), nil)
		Expect(err).To(MatchError(softhsm.ErrInputTooLarge))
		_, _, err = tok.Encrypt("k1", make([]byte, softhsm.MaxGCMInput), nil)
		Expect(err).NotTo(HaveOccurred())
		// The token still works after the failures (their sessions were discarded).
		out, err := tok.Decrypt("k1", iv, ct, []byte("aad"))
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]byte("secret")))
	})

	It("reports unknown keys and duplicate IDs", func() {
		_, _, err := tok.Encrypt("missing", []byte("x"), nil)
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound))
		Expect(tok.GenerateKey(softhsm.KeyOptions{ID: "k1"})).To(MatchError(softhsm.ErrKeyExists))
	})

	It("lists and deletes keys", func() {
		Expect(tok.GenerateKey(softhsm.KeyOptions{ID: "k2", Label: "two"})).To(Succeed())
		keys, err := tok.ListKeys()
		Expect(err).NotTo(HaveOccurred())
		Expect(keys).To(ConsistOf(
			softhsm.KeyInfo{ID: "k1", Label: "arn:aws:kms:us-east-1:111122223333:key/one"},
			softhsm.KeyInfo{ID: "k2", Label: "two"}))
		Expect(tok.DeleteKey("k2")).To(Succeed())
		Expect(tok.DeleteKey("k2")).To(MatchError(softhsm.ErrKeyNotFound))
		_, _, err = tok.Encrypt("k2", []byte("x"), nil)
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound))
		keys, err = tok.ListKeys()
		Expect(err).NotTo(HaveOccurred())
		Expect(keys).To(HaveLen(1))
	})

	It("returns random bytes of the requested length within limits", func() {
		a, err := tok.GenerateRandom(32)
		Expect(err).NotTo(HaveOccurred())
		b, err := tok.GenerateRandom(32)
		Expect(err).NotTo(HaveOccurred())
		Expect(a).To(HaveLen(32))
		Expect(a).NotTo(Equal(b))
		_, err = tok.GenerateRandom(softhsm.MaxRandom + 1)
		Expect(err).To(MatchError(softhsm.ErrInvalidParameter))
	})

	It("seals data of any size and unseals it only unchanged", func() {
		data := bytes.Repeat([]byte("backup"), 10000)
		sealed, err := tok.Seal("seal", data, []byte("v1"))
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Contains(sealed, []byte("backupbackup"))).To(BeFalse())
		out, err := tok.Unseal("seal", sealed, []byte("v1"))
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal(data))
		_, err = tok.Unseal("seal", sealed, []byte("v2"))
		Expect(err).To(MatchError(softhsm.ErrInvalidCiphertext))
	})

	It("survives 8 goroutines using it at once", func() {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				msg := []byte(fmt.Sprintf("goroutine %d", g))
				for range 200 {
					iv, ct, err := tok.Encrypt("k1", msg, nil)
					if err != nil {
						errs <- err
						return
					}
					out, err := tok.Decrypt("k1", iv, ct, nil)
					if err != nil || !bytes.Equal(out, msg) {
						errs <- errors.Join(err, errors.New("round trip mismatch"))
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		Expect(errs).To(BeEmpty())
	})
})

var _ = Describe("Key wrapping between tokens of one cluster", func() {
	It("copies a wrappable key to a token holding the same trusted key, and to no other", func() {
		clusterKey := randomKey()
		a, b, stranger := newToken(clusterKey), newToken(clusterKey), newToken(randomKey())
		Expect(a.GenerateKey(softhsm.KeyOptions{ID: "shared", Label: "s", WrapWithTrusted: true})).To(Succeed())
		wrapped, err := a.WrapKey("wrap", "shared")
		Expect(err).NotTo(HaveOccurred())
		Expect(b.UnwrapKey("wrap", wrapped, softhsm.KeyOptions{ID: "shared", Label: "s", WrapWithTrusted: true})).To(Succeed())
		Expect(stranger.UnwrapKey("wrap", wrapped, softhsm.KeyOptions{ID: "shared"})).To(MatchError(softhsm.ErrInvalidCiphertext))

		iv, ct, err := a.Encrypt("shared", []byte("made on a"), nil)
		Expect(err).NotTo(HaveOccurred())
		out, err := b.Decrypt("shared", iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]byte("made on a")))
	})

	It("never wraps a key made without WrapWithTrusted, nor with a non-trusted key", func() {
		a := newToken(randomKey())
		Expect(a.GenerateKey(softhsm.KeyOptions{ID: "local"})).To(Succeed())
		_, err := a.WrapKey("wrap", "local")
		Expect(err).To(HaveOccurred())
		Expect(a.GenerateKey(softhsm.KeyOptions{ID: "movable", WrapWithTrusted: true})).To(Succeed())
		_, err = a.WrapKey("seal", "movable")
		Expect(err).To(HaveOccurred())
	})
})
