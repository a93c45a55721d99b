package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/softhsm"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/node"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// module is the process's one SoftHSM instance; every node of a spec keeps
// its own token in it.
var module *softhsm.Module

// TestMain closes the process's SoftHSM module and removes its token
// directory once the specs and benchmarks are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if moduleDir != "" {
		if module != nil {
			_ = module.Close()
		}
		_ = os.RemoveAll(moduleDir)
	}
	os.Exit(code)
}

func TestNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "node")
}

var _ = BeforeSuite(func() {
	var err error
	module, err = openModule()
	Expect(err).NotTo(HaveOccurred())
})

// moduleDir is the token directory of the process's SoftHSM module;
// TestMain removes it.
var moduleDir string

// openModule opens the process's SoftHSM module once, for the specs and
// the benchmarks alike (SoftHSM allows one per process). It stays open
// until TestMain closes it.
var openModule = sync.OnceValues(func() (*softhsm.Module, error) {
	dir, err := os.MkdirTemp("", "kmsharness-node-test-")
	if err != nil {
		return nil, err
	}
	moduleDir = dir
	conf, err := softhsm.WriteConfig(dir)
	if err != nil {
		return nil, err
	}
	m, err := softhsm.OpenModule(testenv.SoftHSMLibrary(), conf)
	if err == nil {
		module = m
	}
	return m, err
})

// Passwords of the users every test cluster starts with.
const (
	officerPassword = "officer-pw-1"
	appliancePw     = "appliance-pw-1"
	kmsuserPassword = "kmsuser-pw-1"
)

// testCluster is a cluster's shared material: its secret and PKI.
type testCluster struct {
	secret      []byte
	anchor      *pki.CA
	clusterKey  *ecdsa.PrivateKey
	clusterCert []byte
	subject     pkix.Name
	nodes       int
}

var clusterCounter int

func newTestCluster() *testCluster {
	clusterCounter++
	tc := &testCluster{secret: make([]byte, 32)}
	_, _ = rand.Read(tc.secret)
	var err error
	tc.anchor, err = pki.NewSelfSignedCA("customer CA")
	Expect(err).NotTo(HaveOccurred())
	tc.clusterKey, err = pki.NewKey()
	Expect(err).NotTo(HaveOccurred())
	tc.subject = pkix.Name{CommonName: fmt.Sprintf("cluster-%d", clusterCounter)}
	csr, err := pki.NewCSR(tc.clusterKey, tc.subject)
	Expect(err).NotTo(HaveOccurred())
	tc.clusterCert, err = tc.anchor.SignCSR(csr)
	Expect(err).NotTo(HaveOccurred())
	return tc
}

func (tc *testCluster) anchors() []*x509.Certificate { return []*x509.Certificate{tc.anchor.Cert} }

// runningNode is a node served in-process on a loopback port.
type runningNode struct {
	node  *node.Node
	addr  string
	hsmID string
	dir   string
}

// startNode starts a node of the cluster; the first one gets the officer
// and the appliance user, later ones only the appliance user (they are meant
// to be restored from a backup).
func (tc *testCluster) startNode(bootstrapUsers ...nodefiles.BootstrapUser) *runningNode {
	tc.nodes++
	hsmID := fmt.Sprintf("hsm-p%dc%dn%d", GinkgoParallelProcess(), clusterCounter, tc.nodes)
	if bootstrapUsers == nil {
		bootstrapUsers = []nodefiles.BootstrapUser{{Name: "app_user", Role: users.RoleAU, Password: appliancePw}}
		if tc.nodes == 1 {
			bootstrapUsers = append(bootstrapUsers, nodefiles.BootstrapUser{Name: "admin", Role: users.RoleCO, Password: officerPassword})
		}
	}
	nc, err := pki.IssueNodeCertificate(tc.clusterKey, tc.subject, hsmID)
	Expect(err).NotTo(HaveOccurred())
	dir := filepath.Join(GinkgoT().TempDir(), hsmID)
	Expect(nodefiles.PrepareDataDir(dir, nodefiles.Bootstrap{HSMID: hsmID, ClusterSecret: tc.secret, Users: bootstrapUsers},
		nc.KeyPEM, append(nc.CertPEM, tc.clusterCert...))).To(Succeed())
	return serveNode(dir)
}

// serveNode opens the node in dir and serves it; maxLoaded, if given,
// limits the keys its token holds loaded.
func serveNode(dir string, maxLoaded ...int) *runningNode {
	cfg := node.Config{DataDir: dir, Module: module, Logger: testenv.Logger(GinkgoWriter)}
	if len(maxLoaded) > 0 {
		cfg.MaxLoadedKeys = maxLoaded[0]
	}
	n, err := node.Open(cfg)
	Expect(err).NotTo(HaveOccurred())
	l, err := n.Listen("127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	go func() { _ = n.Serve(l) }()
	DeferCleanup(n.Close)
	return &runningNode{node: n, addr: l.Addr().String(), hsmID: n.HSMID(), dir: dir}
}

// dial connects to a node of the cluster and logs in, closing at cleanup.
func (tc *testCluster) dial(n *runningNode, user, password string) *hsmclient.Conn {
	c, err := hsmclient.Dial(context.Background(), n.addr, n.hsmID, tc.anchors())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	if user != "" {
		Expect(c.Login(context.Background(), user, password)).To(Succeed())
	}
	return c
}

// withKmsuser creates kmsuser on the node through its officer.
func (tc *testCluster) withKmsuser(n *runningNode) {
	co := tc.dial(n, "admin", officerPassword)
	Expect(co.CreateUser(context.Background(), "kmsuser", "CU", kmsuserPassword)).To(Succeed())
	Expect(co.Close()).To(Succeed())
}
