package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
)

// hsmFailure maps a failed HSM call to what KMS answers: the cluster out of
// sessions is KMSInternalException; anything else the cluster caused (no
// reachable HSM, missing key material) is KMSInvalidStateException.
func hsmFailure(err error) error {
	switch {
	case errors.Is(err, hsmwire.ErrSessionsExhausted):
		return kmsError("KMSInternalException", "The CloudHSM cluster has no free PKCS#11 sessions; retry with backoff.")
	case errors.Is(err, hsmwire.ErrKeyNotFound):
		return invalidState("The key material of this KMS key is not in the associated CloudHSM cluster.")
	case errors.Is(err, hsmwire.ErrInvalidCiphertext):
		return invalidCiphertext()
	default:
		return invalidState("KMS cannot communicate with your CloudHSM cluster.")
	}
}

// cryptoKey is a key ready for one cryptographic call, resolved under the
// lock and used outside it.
type cryptoKey struct {
	k    key
	hsms *hsmclient.Cluster // for AWS_CLOUDHSM keys
}

// cryptoKeyFor resolves and checks a key for cryptography.
func (s *Service) cryptoKeyFor(ref string) (*cryptoKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(ref, anyKeyRef)
	if err != nil {
		return nil, err
	}
	return s.checkedCryptoKey(k)
}

// checkedCryptoKey checks a resolved key; s.mu is held.
func (s *Service) checkedCryptoKey(k *key) (*cryptoKey, error) {
	if err := s.usable(k); err != nil {
		return nil, err
	}
	ck := &cryptoKey{k: *k}
	if k.StoreID != "" {
		sess := s.sessions[k.StoreID]
		if sess == nil || sess.hsms == nil {
			return nil, invalidState("%s is unavailable.", k.ARN)
		}
		ck.hsms = sess.hsms
	}
	return ck, nil
}

// Bounds of the model that the operations keep as well, so that no input
// the model check missed reaches an HSM or an allocation.
const (
	maxPlaintextBytes = 4096 // PlaintextType
	maxRandomBytes    = 1024 // NumberOfBytesType
)

// seal encrypts plaintext under the key: in the HSMs for AWS_CLOUDHSM keys,
// in process (AES-256-GCM) for AWS_KMS keys.
func (s *Service) seal(ctx context.Context, ck *cryptoKey, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	if len(plaintext) > maxPlaintextBytes {
		return nil, validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to %d", maxPlaintextBytes)
	}
	aad := associatedData(ck.k.ARN, encCtx)
	var iv, body []byte
	if ck.hsms != nil {
		var err error
		if iv, body, err = ck.hsms.Encrypt(ctx, ck.k.BackingKeyID, plaintext, aad); err != nil {
			return nil, hsmFailure(err)
		}
	} else {
		aead, err := s.materialAEAD(&ck.k)
		if err != nil {
			return nil, err
		}
		iv = make([]byte, ivSize)
		_, _ = rand.Read(iv)
		body = aead.Seal(nil, iv, plaintext, aad)
	}
	return ciphertext{keyID: ck.k.ID, iv: iv, body: body}.marshal(), nil
}

// open decrypts a parsed ciphertext with its key.
func (s *Service) open(ctx context.Context, ck *cryptoKey, ct ciphertext, encCtx map[string]string) ([]byte, error) {
	aad := associatedData(ck.k.ARN, encCtx)
	if ck.hsms != nil {
		pt, err := ck.hsms.Decrypt(ctx, ck.k.BackingKeyID, ct.iv, ct.body, aad)
		if err != nil {
			return nil, hsmFailure(err)
		}
		return pt, nil
	}
	aead, err := s.materialAEAD(&ck.k)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, ct.iv, ct.body, aad)
	if err != nil {
		return nil, invalidCiphertext()
	}
	return pt, nil
}

func (s *Service) materialAEAD(k *key) (cipher.AEAD, error) {
	material, err := s.sealer.open(k.SealedKey, []byte(k.ARN))
	if err != nil {
		return nil, kmsError("KMSInternalException", "The key material of %s could not be read.", k.ARN)
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func checkAlgorithm(alg string) error {
	if alg != "" && alg != symmetricDefault {
		return kmsError("InvalidKeyUsageException", "Encryption algorithm %s is not valid for a symmetric encryption key; use SYMMETRIC_DEFAULT.", alg)
	}
	return nil
}

func checkDryRun(dryRun bool) error {
	if dryRun {
		return kmsError("DryRunOperationException", "The request would have succeeded, but the DryRun flag is set.")
	}
	return nil
}

type encryptInput struct {
	KeyID               string `json:"KeyId"`
	Plaintext           []byte
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
	DryRun              bool
}

func (s *Service) encrypt(ctx context.Context, in *encryptInput) (any, error) {
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	ck, err := s.cryptoKeyFor(in.KeyID)
	if err != nil {
		return nil, err
	}
	if err := checkDryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.seal(ctx, ck, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return cryptoAnswer{ciphertext: blob, keyID: ck.k.ARN, algorithms: oneAlgorithm}, nil
}

// decryptWith parses a ciphertext, finds its key, checks keyRef names that
// key (IncorrectKeyException otherwise) and decrypts.
func (s *Service) decryptWith(ctx context.Context, blob []byte, keyRef string, encCtx map[string]string) (*cryptoKey, []byte, error) {
	ct, err := parseCiphertext(blob)
	if err != nil {
		return nil, nil, invalidCiphertext()
	}
	s.mu.Lock()
	k, ok := s.keys[ct.keyID]
	if !ok {
		s.mu.Unlock()
		return nil, nil, invalidCiphertext()
	}
	if keyRef != "" {
		named, err := s.resolveKey(keyRef, anyKeyRef)
		if err != nil {
			s.mu.Unlock()
			return nil, nil, err
		}
		if named.ID != k.ID {
			s.mu.Unlock()
			return nil, nil, kmsError("IncorrectKeyException", "The key ID in the request does not identify the key that encrypted the ciphertext.")
		}
	}
	ck, err := s.checkedCryptoKey(k)
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	pt, err := s.open(ctx, ck, ct, encCtx)
	return ck, pt, err
}

type decryptInput struct {
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	KeyID               string `json:"KeyId"`
	EncryptionAlgorithm string
	DryRun              bool
}

func (s *Service) decrypt(ctx context.Context, in *decryptInput) (any, error) {
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if len(in.CiphertextBlob) == 0 {
		return nil, validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if err := checkDryRun(in.DryRun); err != nil {
		return nil, err
	}
	ck, pt, err := s.decryptWith(ctx, in.CiphertextBlob, in.KeyID, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return cryptoAnswer{plaintext: pt, keyID: ck.k.ARN, algorithms: oneAlgorithm}, nil
}

type reEncryptInput struct {
	CiphertextBlob                 []byte
	SourceEncryptionContext        map[string]string
	SourceKeyID                    string `json:"SourceKeyId"`
	DestinationKeyID               string `json:"DestinationKeyId"`
	DestinationEncryptionContext   map[string]string
	SourceEncryptionAlgorithm      string
	DestinationEncryptionAlgorithm string
	DryRun                         bool
}

func (s *Service) reEncrypt(ctx context.Context, in *reEncryptInput) (any, error) {
	for _, alg := range []string{in.SourceEncryptionAlgorithm, in.DestinationEncryptionAlgorithm} {
		if err := checkAlgorithm(alg); err != nil {
			return nil, err
		}
	}
	if len(in.CiphertextBlob) == 0 {
		return nil, validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	dest, err := s.cryptoKeyFor(in.DestinationKeyID)
	if err != nil {
		return nil, err
	}
	if err := checkDryRun(in.DryRun); err != nil {
		return nil, err
	}
	src, pt, err := s.decryptWith(ctx, in.CiphertextBlob, in.SourceKeyID, in.SourceEncryptionContext)
	if err != nil {
		return nil, err
	}
	blob, err := s.seal(ctx, dest, pt, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	return cryptoAnswer{ciphertext: blob, sourceKeyID: src.k.ARN, keyID: dest.k.ARN, algorithms: reEncryptAlgorithms}, nil
}

type generateDataKeyInput struct {
	KeyID             string `json:"KeyId"`
	EncryptionContext map[string]string
	NumberOfBytes     int
	KeySpec           string
	DryRun            bool
}

// dataKey makes a data key and its ciphertext under the KMS key.
func (s *Service) dataKey(ctx context.Context, in *generateDataKeyInput) (*cryptoKey, []byte, []byte, error) {
	n := in.NumberOfBytes
	switch {
	case n != 0 && in.KeySpec != "":
		return nil, nil, nil, validation("Specify either KeySpec or NumberOfBytes, not both.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case n == 0:
		return nil, nil, nil, validation("Specify either KeySpec or NumberOfBytes.")
	case n < 1 || n > maxRandomBytes:
		return nil, nil, nil, numberOfBytesOutOfRange(n)
	}
	ck, err := s.cryptoKeyFor(in.KeyID)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkDryRun(in.DryRun); err != nil {
		return nil, nil, nil, err
	}
	plaintext := make([]byte, n)
	_, _ = rand.Read(plaintext)
	blob, err := s.seal(ctx, ck, plaintext, in.EncryptionContext)
	if err != nil {
		return nil, nil, nil, err
	}
	return ck, plaintext, blob, nil
}

func (s *Service) generateDataKey(ctx context.Context, in *generateDataKeyInput) (any, error) {
	ck, pt, blob, err := s.dataKey(ctx, in)
	if err != nil {
		return nil, err
	}
	return cryptoAnswer{ciphertext: blob, plaintext: pt, keyID: ck.k.ARN}, nil
}

func (s *Service) generateDataKeyWithoutPlaintext(ctx context.Context, in *generateDataKeyInput) (any, error) {
	ck, _, blob, err := s.dataKey(ctx, in)
	if err != nil {
		return nil, err
	}
	return cryptoAnswer{ciphertext: blob, keyID: ck.k.ARN}, nil
}

type generateRandomInput struct {
	NumberOfBytes    int
	CustomKeyStoreID string `json:"CustomKeyStoreId"`
}

func (s *Service) generateRandom(ctx context.Context, in *generateRandomInput) (any, error) {
	if in.NumberOfBytes == 0 {
		return nil, validation("1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
	}
	if in.NumberOfBytes < 1 || in.NumberOfBytes > maxRandomBytes {
		return nil, numberOfBytesOutOfRange(in.NumberOfBytes)
	}
	if in.CustomKeyStoreID == "" {
		out := make([]byte, in.NumberOfBytes)
		_, _ = rand.Read(out)
		return cryptoAnswer{plaintext: out}, nil
	}
	s.mu.Lock()
	st, err := s.lookupStore(in.CustomKeyStoreID)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if _, err := s.check(st, opUseHSMs); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	sess := s.sessions[st.ID]
	if sess == nil || sess.hsms == nil {
		s.mu.Unlock()
		return nil, storeInvalidState("Custom key store %s is %s; it must be CONNECTED.", st.ID, st.State)
	}
	hsms := sess.hsms
	s.mu.Unlock()
	out, err := hsms.GenerateRandom(ctx, in.NumberOfBytes)
	if err != nil {
		// GenerateRandom declares no KMSInvalidStateException.
		return nil, kmsError("KMSInternalException", "KMS cannot communicate with your CloudHSM cluster.")
	}
	return cryptoAnswer{plaintext: out}, nil
}

func numberOfBytesOutOfRange(n int) error {
	if n < 1 {
		return validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
	}
	return validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxRandomBytes)
}
