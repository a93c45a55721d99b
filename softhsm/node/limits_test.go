package node_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/node"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// limitedNode starts a node of tc with the officer, served in-process with
// the given limits.
func limitedNode(tc *testCluster, limits node.Limits) *runningNode {
	tc.nodes++
	hsmID := fmt.Sprintf("hsm-p%dc%dl%d", GinkgoParallelProcess(), clusterCounter, tc.nodes)
	nc, err := pki.IssueNodeCertificate(tc.clusterKey, tc.subject, hsmID)
	Expect(err).NotTo(HaveOccurred())
	dir := filepath.Join(GinkgoT().TempDir(), hsmID)
	Expect(nodefiles.PrepareDataDir(dir, nodefiles.Bootstrap{HSMID: hsmID, ClusterSecret: tc.secret,
		Users: []nodefiles.BootstrapUser{{Name: "admin", Role: users.RoleCO, Password: officerPassword}}},
		nc.KeyPEM, append(nc.CertPEM, tc.clusterCert...))).To(Succeed())
	n, err := node.Open(node.Config{DataDir: dir, Module: module, Logger: testenv.Logger(GinkgoWriter), Limits: limits})
	Expect(err).NotTo(HaveOccurred())
	l, err := n.Listen("127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	go func() { _ = n.Serve(l) }()
	DeferCleanup(n.Close)
	return &runningNode{node: n, addr: l.Addr().String(), hsmID: n.HSMID(), dir: dir}
}

// closedByPeer reports whether the other end closed c: a read returns
// something other than a timeout.
func closedByPeer(c net.Conn) func() bool {
	return func() bool {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		var b [1]byte
		_, err := c.Read(b[:])
		ne, ok := err.(net.Error)
		return err != nil && !(ok && ne.Timeout())
	}
}

var _ = Describe("The node server's limits", func() {
	var (
		tc *testCluster
		n  *runningNode
	)
	BeforeEach(func() {
		tc = newTestCluster()
		n = limitedNode(tc, node.Limits{HandshakeTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
			FrameTimeout: 300 * time.Millisecond, MaxConnections: 2})
	})

	It("closes a connection that never finishes its TLS handshake", func() {
		c, err := net.Dial("tcp", n.addr)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = c.Close() })
		Eventually(closedByPeer(c)).WithTimeout(20 * time.Second).Should(BeTrue())
	})

	It("closes a connection that does not log in and sends nothing, but keeps an idle logged-in session", func(ctx SpecContext) {
		anonymous := tc.dial(n, "", "")
		loggedIn := tc.dial(n, "admin", officerPassword)
		Eventually(anonymous.Done()).WithTimeout(20 * time.Second).Should(BeClosed())
		Consistently(loggedIn.Done(), time.Second).ShouldNot(BeClosed(), "a session waits for its client as long as it likes")
		_, err := loggedIn.Info(ctx)
		Expect(err).NotTo(HaveOccurred())
	})

	It("cuts off a frame trickled in slowly", func() {
		c, err := tls.Dial("tcp", n.addr, &tls.Config{InsecureSkipVerify: true}) // only the framing is under test
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = c.Close() })
		var header [4]byte
		binary.BigEndian.PutUint32(header[:], 1000)
		_, err = c.Write(header[:])
		Expect(err).NotTo(HaveOccurred())
		stop := make(chan struct{})
		DeferCleanup(func() { close(stop) })
		go func() {
			defer GinkgoRecover()
			t := time.NewTicker(100 * time.Millisecond) // 1,000 bytes would take 100 s
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
		Eventually(closedByPeer(c)).WithTimeout(20 * time.Second).Should(BeTrue())
	})

	It("serves at most MaxConnections at once; the next waits until one closes", func(ctx SpecContext) {
		first := tc.dial(n, "admin", officerPassword)
		tc.dial(n, "admin", officerPassword) // logged in, so the idle timeout does not free its place
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := hsmclient.Dial(short, n.addr, n.hsmID, tc.anchors())
		Expect(err).To(HaveOccurred(), "a third connection is not served")
		Expect(first.Close()).To(Succeed())
		Eventually(func() error {
			c, err := hsmclient.Dial(ctx, n.addr, n.hsmID, tc.anchors())
			if err == nil {
				DeferCleanup(func() { _ = c.Close() })
			}
			return err
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
})
