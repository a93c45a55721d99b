package hsmclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxChainDepth bounds the certificates between a node and its trust anchor
// (node → cluster → customer CA is two steps).
const maxChainDepth = 4

// verifyNode checks the certificate chain a node presented: the leaf must
// name the expected HSM and chain, through the presented certificates, to one
// of the trust anchors. Intermediate certificates are checked with
// CheckSignatureFrom rather than x509.Verify because a cluster certificate
// signed with openssl's defaults (as the CloudHSM guide does it) is a v1
// certificate without CA constraints, which x509.Verify refuses as an issuer.
func verifyNode(cs tls.ConnectionState, hsmID string, anchors []*x509.Certificate, now time.Time) error {
	chain := cs.PeerCertificates
	if len(chain) == 0 {
		return errors.New("node presented no certificate")
	}
	leaf := chain[0]
	if hsmID != "" && !slices.Contains(leaf.DNSNames, hsmID) {
		return fmt.Errorf("node certificate is for %v, not %s", leaf.DNSNames, hsmID)
	}
	cur := leaf
	for depth := 0; depth <= maxChainDepth; depth++ {
		if now.Before(cur.NotBefore) || now.After(cur.NotAfter) {
			return fmt.Errorf("certificate %q is not valid now", cur.Subject)
		}
		for _, anchor := range anchors {
			if cur.Equal(anchor) || cur.CheckSignatureFrom(anchor) == nil {
				return nil
			}
		}
		next := issuerIn(cur, chain)
		if next == nil {
			return errors.New("node certificate does not chain to the trust anchor")
		}
		cur = next
	}
	return errors.New("node certificate chain is too long")
}

func issuerIn(c *x509.Certificate, chain []*x509.Certificate) *x509.Certificate {
	for _, cand := range chain {
		if cand != c && !cand.Equal(c) && c.CheckSignatureFrom(cand) == nil {
			return cand
		}
	}
	return nil
}

// tlsConfig returns a client configuration that verifies nodes with
// verifyNode against the trust anchors.
func tlsConfig(hsmID string, anchors []*x509.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Frames are small and latency matters: send full records at once.
		DynamicRecordSizingDisabled: true,
		// Verification is done in VerifyConnection, against the trust
		// anchor only; see verifyNode.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyNode(cs, hsmID, anchors, time.Now())
		},
	}
}

// ParseTrustAnchors parses PEM certificates (a customerCA.crt file).
func ParseTrustAnchors(pemData []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for len(pemData) > 0 {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trust anchor: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("trust anchor: no PEM certificate found")
	}
	return out, nil
}
