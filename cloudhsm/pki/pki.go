// Package pki makes the certificates of an emulated CloudHSM cluster: the
// cluster key and its CSR, the customer's CA (the trust anchor) that signs
// it, the cluster certificate, and the TLS certificates of the HSM nodes,
// which the cluster key issues so that a client holding only the trust
// anchor can verify a node (node → cluster certificate → trust anchor).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity of the certificates made here: long enough for any test run.
const validity = 10 * 365 * 24 * time.Hour

// NewKey returns a new ECDSA P-256 private key.
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// CertificatePEM encodes a DER certificate as PEM.
func CertificatePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCertificate parses the first PEM certificate in data.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate found")
	}
	return x509.ParseCertificate(block.Bytes)
}

// ParseCSR parses a PEM certificate request and checks its signature.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("no PEM certificate request found")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	return csr, csr.CheckSignature()
}

// NewCSR returns a PEM certificate request for key with the given subject.
func NewCSR(key crypto.Signer, subject pkix.Name) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// CA is a certificate authority: a certificate and its key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
}

// NewSelfSignedCA makes a self-signed CA certificate, like the customerCA.crt
// a CloudHSM customer makes to initialise a cluster.
func NewSelfSignedCA(commonName string) (*CA, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	certPEM, cert, err := IssueSelfSigned(key, pkix.Name{CommonName: commonName, Organization: []string{"kmsharness customer"}})
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM}, nil
}

// SignCSR signs a PEM CSR as an intermediate CA certificate (the cluster
// certificate), keeping the CSR's subject, and returns it as PEM.
func (ca *CA) SignCSR(csrPEM []byte) ([]byte, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster CSR: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               csr.Subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return CertificatePEM(der), nil
}

// IssueSelfSigned makes a self-signed CA certificate for key (a customer
// CA, the emulated hardware roots, the cluster key's own authority).
func IssueSelfSigned(key crypto.Signer, subject pkix.Name) ([]byte, *x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return CertificatePEM(der), cert, err
}

// IssueCertificate signs a certificate for pub with the given subject under
// issuer (certificate and key). It is how the emulated hardware certifies
// the HSM's key.
func IssueCertificate(issuer *x509.Certificate, issuerKey crypto.Signer, pub crypto.PublicKey, subject pkix.Name, isCA bool) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity),
		IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, issuerKey)
	if err != nil {
		return nil, err
	}
	return CertificatePEM(der), nil
}

// NodeCertificate is an HSM node's TLS identity.
type NodeCertificate struct {
	KeyPEM  []byte
	CertPEM []byte
}

// IssueNodeCertificate makes a TLS server certificate for an HSM node,
// named by its HSM ID (DNS SAN) and valid for the loopback addresses and
// any extra IPs, signed by the cluster key. issuer is the subject of the
// cluster certificate (the CSR's subject).
func IssueNodeCertificate(clusterKey crypto.Signer, issuer pkix.Name, hsmID string, ips ...net.IP) (*NodeCertificate, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hsmID, Organization: []string{"kmsharness HSM"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{hsmID, "localhost"},
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, ips...),
	}
	parent := &x509.Certificate{Subject: issuer, PublicKey: clusterKey.Public()}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), clusterKey)
	if err != nil {
		return nil, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &NodeCertificate{KeyPEM: keyPEM, CertPEM: CertificatePEM(der)}, nil
}
