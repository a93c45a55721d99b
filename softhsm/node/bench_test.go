package node_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"os"
	"testing"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/softhsm"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/node"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// BenchmarkEncrypt4KiB compares AES-256-GCM encryption of 4 KiB through an
// HSM node (hsmwire over TLS on loopback, node in this process) with the
// same operation through PKCS#11 directly on a token of the same module.
// The "parallel" variants run 4 goroutines per CPU; the node variants share
// one connection, as a KMS front end does.
//
//	go test ./softhsm/node -run '^$' -bench Encrypt4KiB -benchtime 3s
func BenchmarkEncrypt4KiB(b *testing.B) {
	module, err := openModule()
	if err != nil {
		b.Fatal(err)
	}
	plaintext := make([]byte, 4096)
	_, _ = rand.Read(plaintext)

	direct := benchToken(b, module)
	if _, err := direct.GenerateKey("wrap", softhsm.KeyOptions{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	conn, keyID := benchNode(b, module)
	ctx := context.Background()

	b.Run("direct", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if _, _, err := direct.Encrypt("bench", plaintext, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct-parallel", func(b *testing.B) {
		b.SetBytes(4096)
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := direct.Encrypt("bench", plaintext, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("node", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if _, _, err := conn.Encrypt(ctx, keyID, plaintext, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("node-parallel", func(b *testing.B) {
		b.SetBytes(4096)
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := conn.Encrypt(ctx, keyID, plaintext, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// The way KMS calls: through a Cluster (round-robin, failover and a
	// timeout per attempt), here of the one node.
	cluster := hsmclient.NewCluster(conn)
	b.Run("cluster", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if _, _, err := cluster.Encrypt(ctx, keyID, plaintext, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cluster-parallel", func(b *testing.B) {
		b.SetBytes(4096)
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := cluster.Encrypt(ctx, keyID, plaintext, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGenerateKey creates keys through an HSM node (generation in
// SoftHSM, the wrapped key recorded in the node's key database, the masked
// key sealed into the answer); the parallel variant runs 8 goroutines on one
// connection. Run with a -benchtime of thousands of keys to see that the
// rate does not fall as keys pile up.
//
//	go test ./softhsm/node -run '^$' -bench GenerateKey -benchtime 5000x
func BenchmarkGenerateKey(b *testing.B) {
	module, err := openModule()
	if err != nil {
		b.Fatal(err)
	}
	conn, _ := benchNode(b, module)
	ctx := context.Background()
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			if _, err := conn.GenerateKey(ctx, "arn:aws:kms:us-east-1:111122223333:key/bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-8", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := conn.GenerateKey(ctx, "arn:aws:kms:us-east-1:111122223333:key/bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func benchToken(b *testing.B, module *softhsm.Module) *softhsm.Token {
	label := "bench-direct-" + rand.Text()[:8]
	wrap := make([]byte, 32)
	_, _ = rand.Read(wrap)
	if err := module.CreateToken(softhsm.TokenSpec{Label: label, SOPIN: "so-secret", UserPIN: "user-secret",
		TrustedKeys: map[string][]byte{"wrap": wrap}}); err != nil {
		b.Fatal(err)
	}
	tok, err := module.OpenToken(label, "user-secret")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tok.Close() })
	return tok
}

// benchNode serves a node in-process and returns a kmsuser connection and a key.
func benchNode(b *testing.B, module *softhsm.Module) (*hsmclient.Conn, string) {
	ctx := context.Background()
	ca, err := pki.NewSelfSignedCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	key, _ := pki.NewKey()
	csr, _ := pki.NewCSR(key, ca.Cert.Subject)
	clusterCert, err := ca.SignCSR(csr)
	if err != nil {
		b.Fatal(err)
	}
	hsmID := "hsm-bench" + rand.Text()[:6]
	nc, err := pki.IssueNodeCertificate(key, ca.Cert.Subject, hsmID)
	if err != nil {
		b.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dir, err := os.MkdirTemp("", "bench-node-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := nodefiles.PrepareDataDir(dir, nodefiles.Bootstrap{HSMID: hsmID, ClusterSecret: secret, Users: []nodefiles.BootstrapUser{
		{Name: "admin", Role: users.RoleCO, Password: officerPassword},
	}}, nc.KeyPEM, append(nc.CertPEM, clusterCert...)); err != nil {
		b.Fatal(err)
	}
	n, err := node.Open(node.Config{DataDir: dir, Module: module})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	l, err := n.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = n.Serve(l) }()
	dial := func(user, password string) *hsmclient.Conn {
		c, err := hsmclient.Dial(ctx, l.Addr().String(), hsmID, []*x509.Certificate{ca.Cert})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Login(ctx, user, password); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	if err := dial("admin", officerPassword).CreateUser(ctx, "kmsuser", "CU", kmsuserPassword); err != nil {
		b.Fatal(err)
	}
	kms := dial("kmsuser", kmsuserPassword)
	id, err := kms.GenerateKey(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return kms, id
}
