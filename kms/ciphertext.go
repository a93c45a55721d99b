package kms

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"

	"github.com/google/uuid"
)

// Ciphertext blob layout (all KMS ciphertexts of this service):
//
//	"KH" | version (1) | key ID (16-byte UUID) | IV (12) | ciphertext || 16-byte tag
//
// The key is named in the blob so Decrypt needs no KeyId, as with KMS.
const (
	ciphertextVersion = 1
	ivSize            = 12
	tagSize           = 16
	headerSize        = 2 + 1 + 16 + ivSize
)

var ciphertextMagic = []byte("KH")

var errMalformedCiphertext = errors.New("malformed ciphertext")

type ciphertext struct {
	keyID string
	iv    []byte
	body  []byte // ciphertext with tag
}

func (c ciphertext) marshal() []byte {
	id := uuid.MustParse(c.keyID)
	out := make([]byte, 0, headerSize+len(c.body))
	out = append(out, ciphertextMagic...)
	out = append(out, ciphertextVersion)
	out = append(out, id[:]...)
	out = append(out, c.iv...)
	return append(out, c.body...)
}

func parseCiphertext(blob []byte) (ciphertext, error) {
	if len(blob) < headerSize+tagSize || !bytes.Equal(blob[:2], ciphertextMagic) || blob[2] != ciphertextVersion {
		return ciphertext{}, errMalformedCiphertext
	}
	id, err := uuid.FromBytes(blob[3:19])
	if err != nil {
		return ciphertext{}, errMalformedCiphertext
	}
	return ciphertext{keyID: id.String(), iv: blob[19:headerSize], body: blob[headerSize:]}, nil
}

// associatedData binds a ciphertext to its key and encryption context: the
// key ARN, then the context as JSON with sorted keys (so the order in which
// a caller lists the pairs does not matter, but every pair does).
func associatedData(keyARN string, ctx map[string]string) []byte {
	names := make([]string, 0, len(ctx))
	for k := range ctx {
		names = append(names, k)
	}
	sort.Strings(names)
	pairs := make([][2]string, 0, len(names))
	for _, k := range names {
		pairs = append(pairs, [2]string{k, ctx[k]})
	}
	b, _ := json.Marshal(pairs)
	return append([]byte(keyARN+"\n"), b...)
}
