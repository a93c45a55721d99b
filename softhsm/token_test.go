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
		_, err := tok.GenerateKey("wrap", softhsm.KeyOptions{ID: "k1", Label: "arn:aws:kms:us-east-1:111122223333:key/one"})
		Expect(err).NotTo(HaveOccurred())
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
		_, err = tok.GenerateKey("wrap", softhsm.KeyOptions{ID: "k1"})
		Expect(err).To(MatchError(softhsm.ErrKeyExists))
		_, err = tok.GenerateKey("wrap", softhsm.KeyOptions{})
		Expect(err).To(MatchError(softhsm.ErrInvalidParameter))
	})

	It("counts and deletes keys", func() {
		_, err := tok.GenerateKey("wrap", softhsm.KeyOptions{ID: "k2", Label: "two"})
		Expect(err).NotTo(HaveOccurred())
		Expect(tok.LoadedKeys()).To(Equal(2))
		Expect(tok.DeleteKey("k2")).To(Succeed())
		Expect(tok.DeleteKey("k2")).To(MatchError(softhsm.ErrKeyNotFound))
		_, _, err = tok.Encrypt("k2", []byte("x"), nil)
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound))
		Expect(tok.LoadedKeys()).To(Equal(1))
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

var _ = Describe("Keys in their wrapped form", func() {
	It("load into a token holding the same trusted key, and into no other", func() {
		clusterKey := randomKey()
		a, b, stranger := newToken(clusterKey), newToken(clusterKey), newToken(randomKey())
		wrapped, err := a.GenerateKey("wrap", softhsm.KeyOptions{ID: "shared", Label: "s"})
		Expect(err).NotTo(HaveOccurred())
		Expect(b.LoadKey("wrap", wrapped, softhsm.KeyOptions{ID: "shared", Label: "s"})).To(Succeed())
		Expect(b.LoadKey("wrap", wrapped, softhsm.KeyOptions{ID: "shared"})).To(MatchError(softhsm.ErrKeyExists))
		Expect(stranger.LoadKey("wrap", wrapped, softhsm.KeyOptions{ID: "shared"})).To(MatchError(softhsm.ErrInvalidCiphertext))
		Expect(stranger.LoadedKeys()).To(BeZero())

		iv, ct, err := a.Encrypt("shared", []byte("made on a"), nil)
		Expect(err).NotTo(HaveOccurred())
		out, err := b.Decrypt("shared", iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]byte("made on a")))
	})

	It("outlive the token's sessions: a reopened token loads them again", func() {
		clusterKey := randomKey()
		a := newToken(clusterKey)
		wrapped, err := a.GenerateKey("wrap", softhsm.KeyOptions{ID: "durable"})
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := a.Encrypt("durable", []byte("before"), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Close()).To(Succeed())

		again, err := module.OpenToken(a.Label(), "user-secret")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(again.Close)
		_, err = again.Decrypt("durable", iv, ct, nil)
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound), "a loaded key lives only as long as the token is open")
		Expect(again.LoadKey("wrap", wrapped, softhsm.KeyOptions{ID: "durable"})).To(Succeed())
		out, err := again.Decrypt("durable", iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]byte("before")))
	})

	It("are wrapped only by a trusted key", func() {
		a := newToken(randomKey())
		_, err := a.GenerateKey("seal", softhsm.KeyOptions{ID: "k"})
		Expect(err).To(HaveOccurred())
		Expect(a.LoadedKeys()).To(BeZero(), "a key that could not be wrapped is not kept")
		_, err = a.GenerateKey("no-such-key", softhsm.KeyOptions{ID: "k"})
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound))
	})

	// Regression: with keys as token objects, SoftHSM's file object store
	// failed concurrent creations in one token (CKR_GENERAL_ERROR on
	// generation, unwrapping reported as a failed authentication), which
	// made CloudHSM CreateKey fail under concurrency.
	It("are generated and loaded from 8 goroutines at once, each one usable", func() {
		clusterKey := randomKey()
		a, b := newToken(clusterKey), newToken(clusterKey)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					id := fmt.Sprintf("g%d-%d", g, i)
					wrapped, err := a.GenerateKey("wrap", softhsm.KeyOptions{ID: id, Label: id})
					if err == nil {
						err = b.LoadKey("wrap", wrapped, softhsm.KeyOptions{ID: id, Label: id})
					}
					var iv, ct []byte
					if err == nil {
						iv, ct, err = a.Encrypt(id, []byte(id), nil)
					}
					if err == nil {
						_, err = b.Decrypt(id, iv, ct, nil)
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s: %w", id, err))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		Expect(errs).To(BeEmpty())
		Expect(a.LoadedKeys()).To(Equal(800))
		Expect(b.LoadedKeys()).To(Equal(800))
	})
})

var _ = Describe("Keys kept as token objects by earlier versions", func() {
	It("migrate to their wrapped form and stay usable", func() {
		clusterKey := randomKey()
		a, b := newToken(clusterKey), newToken(clusterKey)
		Expect(a.CreateTokenKey(softhsm.KeyOptions{ID: "old", Label: "arn"})).To(Succeed())
		var kept []softhsm.TokenKey
		Expect(a.MigrateTokenKeys("wrap", func(k softhsm.TokenKey) error {
			kept = append(kept, k)
			return nil
		})).To(Succeed())
		Expect(kept).To(HaveLen(1))
		Expect(kept[0].ID).To(Equal("old"))
		Expect(kept[0].Label).To(Equal("arn"))
		Expect(a.LoadKey("wrap", kept[0].Wrapped, softhsm.KeyOptions{ID: "old"})).To(Succeed())

		iv, ct, err := a.Encrypt("old", []byte("x"), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.LoadKey("wrap", kept[0].Wrapped, softhsm.KeyOptions{ID: "old"})).To(Succeed())
		_, err = b.Decrypt("old", iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())

		// The token object is gone: a second migration finds nothing.
		kept = nil
		Expect(a.MigrateTokenKeys("wrap", func(k softhsm.TokenKey) error { kept = append(kept, k); return nil })).To(Succeed())
		Expect(kept).To(BeEmpty())
	})
})

// mapSource is a key source kept in memory, as a node keeps its key records.
type mapSource struct {
	mu   sync.Mutex
	keys map[string][]byte
}

func (m *mapSource) WrappedKey(id string) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.keys[id]
	if !ok {
		return nil, "", fmt.Errorf("%s: %w", id, softhsm.ErrKeyNotFound)
	}
	return w, "label-" + id, nil
}

func (m *mapSource) put(id string, w []byte) {
	m.mu.Lock()
	m.keys[id] = w
	m.mu.Unlock()
}

var _ = Describe("A token with a key source", func() {
	var tok *softhsm.Token
	var source *mapSource
	BeforeEach(func() {
		source = &mapSource{keys: map[string][]byte{}}
		tokenCounter++
		label := fmt.Sprintf("src-%d-%d", GinkgoParallelProcess(), tokenCounter)
		Expect(module.CreateToken(softhsm.TokenSpec{Label: label, SOPIN: "so-secret", UserPIN: "user-secret",
			TrustedKeys: map[string][]byte{"wrap": randomKey()}})).To(Succeed())
		var err error
		tok, err = module.OpenToken(label, "user-secret", softhsm.WithKeySource("wrap", source, 3))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(tok.Close)
	})
	generate := func(id string) {
		w, err := tok.GenerateKey("wrap", softhsm.KeyOptions{ID: id})
		Expect(err).NotTo(HaveOccurred())
		source.put(id, w)
	}

	It("keeps at most its limit loaded and loads the others when they are used", func() {
		for i := range 5 {
			generate(fmt.Sprint("k", i))
		}
		Expect(tok.LoadedKeys()).To(Equal(3))
		for i := range 5 {
			id := fmt.Sprint("k", i)
			iv, ct, err := tok.Encrypt(id, []byte(id), nil)
			Expect(err).NotTo(HaveOccurred())
			out, err := tok.Decrypt(id, iv, ct, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(Equal([]byte(id)))
		}
		Expect(tok.LoadedKeys()).To(Equal(3))
		_, err := tok.GenerateKey("wrap", softhsm.KeyOptions{ID: "k0"})
		Expect(err).To(MatchError(softhsm.ErrKeyExists), "an unloaded key of the source still exists")
		_, _, err = tok.Encrypt("missing", []byte("x"), nil)
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound))
	})

	It("serves 8 goroutines cycling over more keys than it keeps loaded, and deletes keys in use", func() {
		for i := range 10 {
			generate(fmt.Sprint("k", i))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					id := fmt.Sprint("k", (g+i)%10)
					iv, ct, err := tok.Encrypt(id, []byte(id), nil)
					if err == nil {
						_, err = tok.Decrypt(id, iv, ct, nil)
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %w", id, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		Expect(errs).To(BeEmpty())
		Expect(tok.LoadedKeys()).To(BeNumerically("<=", 3))

		// A deleted key is unloaded; with its record gone it is not found.
		_, _, err := tok.Encrypt("k1", []byte("x"), nil)
		Expect(err).NotTo(HaveOccurred())
		source.mu.Lock()
		delete(source.keys, "k1")
		source.mu.Unlock()
		Expect(tok.DeleteKey("k1")).To(Succeed())
		_, _, err = tok.Encrypt("k1", []byte("x"), nil)
		Expect(err).To(MatchError(softhsm.ErrKeyNotFound))
	})
})
