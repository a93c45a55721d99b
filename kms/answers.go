package kms

import (
	"slices"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// The answers of the operations on the hot path (cryptography, key
// listing) encode themselves (awsjson.Answer): no reflection, no map per
// request.

// symmetricDefault is the one encryption algorithm of symmetric keys.
const symmetricDefault = "SYMMETRIC_DEFAULT"

// cryptoAnswer is the answer of Encrypt, Decrypt, ReEncrypt,
// GenerateDataKey(WithoutPlaintext) and GenerateRandom: the members an
// operation sets, in its model's order. A nil blob or an empty ARN is left
// out.
type cryptoAnswer struct {
	ciphertext  []byte // CiphertextBlob
	plaintext   []byte // Plaintext
	sourceKeyID string // SourceKeyId (ReEncrypt)
	keyID       string // KeyId
	// algorithms names EncryptionAlgorithm (Encrypt, Decrypt) or the
	// source and destination ones (ReEncrypt).
	algorithms answerAlgorithms
}

type answerAlgorithms uint8

const (
	noAlgorithm answerAlgorithms = iota
	oneAlgorithm
	reEncryptAlgorithms
)

// AppendJSON implements awsjson.Answer.
func (a cryptoAnswer) AppendJSON(buf []byte) []byte {
	o := awsjson.NewObject(buf)
	if a.ciphertext != nil {
		o.Blob("CiphertextBlob", a.ciphertext)
	}
	if a.plaintext != nil {
		o.Blob("Plaintext", a.plaintext)
	}
	if a.sourceKeyID != "" {
		o.String("SourceKeyId", a.sourceKeyID)
	}
	if a.keyID != "" {
		o.String("KeyId", a.keyID)
	}
	switch a.algorithms {
	case oneAlgorithm:
		o.String("EncryptionAlgorithm", symmetricDefault)
	case reEncryptAlgorithms:
		o.String("SourceEncryptionAlgorithm", symmetricDefault)
		o.String("DestinationEncryptionAlgorithm", symmetricDefault)
	}
	return o.Bytes()
}

// keyListAnswer is the answer of ListKeys.
type keyListAnswer struct {
	keys []keyListEntry
	next string // NextMarker; "" on the last page
}

// AppendJSON implements awsjson.Answer.
func (a keyListAnswer) AppendJSON(buf []byte) []byte {
	// Room for the whole page at once (an entry is its ID, its ARN and
	// about 25 bytes of JSON), instead of growing a page of 1,000 keys,
	// some 140 KB, step by step.
	size := 64 + len(a.next)
	for _, k := range a.keys {
		size += len(k.KeyID) + len(k.KeyArn) + 25
	}
	o := awsjson.NewObject(slices.Grow(buf, size))
	o.Raw("Keys", func(buf []byte) []byte {
		buf = append(buf, '[')
		for i, k := range a.keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			e := awsjson.NewObject(buf)
			e.String("KeyId", k.KeyID)
			e.String("KeyArn", k.KeyArn)
			buf = e.Bytes()
		}
		return append(buf, ']')
	})
	if a.next != "" {
		o.String("NextMarker", a.next)
	}
	o.Bool("Truncated", a.next != "")
	return o.Bytes()
}
