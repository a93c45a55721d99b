package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

var ctx = context.Background()

var _ = Describe("TLS identity", func() {
	It("is verified with the trust anchor alone, and refused under another anchor or name", func() {
		tc := newTestCluster()
		n := tc.startNode()
		c := tc.dial(n, "", "")
		info, err := c.Info(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.HSMID).To(Equal(n.hsmID))

		other := newTestCluster()
		_, err = hsmclient.Dial(ctx, n.addr, n.hsmID, other.anchors())
		Expect(err).To(MatchError(ContainSubstring("does not chain to the trust anchor")))
		_, err = hsmclient.Dial(ctx, n.addr, "hsm-someoneelse", tc.anchors())
		Expect(err).To(MatchError(ContainSubstring("not hsm-someoneelse")))
	})

	It("is not trusted while the chain lacks the cluster certificate, and is once it is written", func() {
		tc := newTestCluster()
		n := tc.startNode()
		nc, err := pki.IssueNodeCertificate(tc.clusterKey, tc.subject, n.hsmID)
		Expect(err).NotTo(HaveOccurred())
		Expect(nodefiles.WriteTLS(n.dir, nc.KeyPEM, nc.CertPEM)).To(Succeed())
		Eventually(func() error {
			c, err := hsmclient.Dial(ctx, n.addr, n.hsmID, tc.anchors())
			if err == nil {
				_ = c.Close()
			}
			return err
		}).Should(MatchError(ContainSubstring("does not chain")))
		Expect(nodefiles.WriteTLS(n.dir, nil, append(nc.CertPEM, tc.clusterCert...))).To(Succeed())
		Eventually(func() error {
			c, err := hsmclient.Dial(ctx, n.addr, n.hsmID, tc.anchors())
			if err == nil {
				_ = c.Close()
			}
			return err
		}).Should(Succeed())
	})
})

var _ = Describe("Users", func() {
	var tc *testCluster
	var n *runningNode
	BeforeEach(func() {
		tc = newTestCluster()
		n = tc.startNode()
		tc.withKmsuser(n)
	})

	It("refuses unknown users and wrong passwords, and allows one login per session", func() {
		c := tc.dial(n, "", "")
		Expect(c.Login(ctx, "nobody", "whatever1")).To(MatchError(hsmwire.ErrUserNotFound))
		Expect(c.Login(ctx, "kmsuser", "wrong-password")).To(MatchError(hsmwire.ErrAuthFailed))
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(Succeed())
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrAlreadyLoggedIn))
		Expect(c.Logout(ctx)).To(Succeed())
		_, err := c.GenerateRandom(ctx, 8)
		Expect(err).To(MatchError(hsmwire.ErrNotLoggedIn))
	})

	It("locks a user after five consecutive failures until an officer resets the password", func() {
		c := tc.dial(n, "", "")
		for i := 1; i < users.DefaultLockoutThreshold; i++ {
			Expect(c.Login(ctx, "kmsuser", "wrong-password")).To(MatchError(hsmwire.ErrAuthFailed), "attempt %d", i)
		}
		Expect(c.Login(ctx, "kmsuser", "wrong-password")).To(MatchError(hsmwire.ErrLockedOut))
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrLockedOut))

		co := tc.dial(n, "admin", officerPassword)
		list, err := co.ListUsers(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(ContainElement(hsmwire.UserInfo{Name: "kmsuser", Role: "CU", Locked: true, FailedLogins: 5}))

		Expect(co.ChangePassword(ctx, "kmsuser", "reset-password-1")).To(Succeed())
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrAuthFailed))
		Expect(c.Login(ctx, "kmsuser", "reset-password-1")).To(Succeed())
	})

	It("counts lockouts per HSM", func() {
		second := tc.startNode()
		appA, appB := tc.dial(n, "app_user", appliancePw), tc.dial(second, "app_user", appliancePw)
		image, err := appA.Backup(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(appB.Restore(ctx, image)).To(Succeed())

		c := tc.dial(n, "", "")
		for range users.DefaultLockoutThreshold {
			_ = c.Login(ctx, "kmsuser", "wrong-password")
		}
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrLockedOut))
		tc.dial(second, "kmsuser", kmsuserPassword)
	})

	It("tells an exclusive login that the user is logged in elsewhere, until that session ends", func() {
		other := tc.dial(n, "kmsuser", kmsuserPassword)
		kms := tc.dial(n, "", "")
		Expect(kms.LoginExclusive(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrUserLoggedIn))

		co := tc.dial(n, "admin", officerPassword)
		list, err := co.ListUsers(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(ContainElement(HaveField("Sessions", 1)))

		Expect(other.Close()).To(Succeed())
		Eventually(func() error { return kms.LoginExclusive(ctx, "kmsuser", kmsuserPassword) }).Should(Succeed())
		// While KMS holds it, the officer cannot delete kmsuser.
		Expect(co.DeleteUser(ctx, "kmsuser")).To(MatchError(hsmwire.ErrUserLoggedIn))
	})

	It("ends a released session's login by the time Release returns", func() {
		other := tc.dial(n, "kmsuser", kmsuserPassword)
		Expect(other.Release(ctx)).To(Succeed())
		Expect(tc.dial(n, "", "").LoginExclusive(ctx, "kmsuser", kmsuserPassword)).To(Succeed())
		Expect(other.Release(ctx)).To(Succeed(), "a released connection has nothing left to end")
	})

	It("rewrites its state for a login only when the failed-login count changes", func() {
		state := filepath.Join(n.dir, nodefiles.StateFile)
		written, err := os.Stat(state)
		Expect(err).NotTo(HaveOccurred())
		for range 3 {
			tc.dial(n, "kmsuser", kmsuserPassword)
		}
		unchanged, err := os.Stat(state)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.SameFile(written, unchanged)).To(BeTrue(), "%s was rewritten for logins that changed nothing", nodefiles.StateFile)

		Expect(tc.dial(n, "", "").Login(ctx, "kmsuser", "wrong-password")).To(MatchError(hsmwire.ErrAuthFailed))
		counted, err := os.Stat(state)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.SameFile(unchanged, counted)).To(BeFalse(), "a failed login is recorded")
		tc.dial(n, "kmsuser", kmsuserPassword)
		cleared, err := os.Stat(state)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.SameFile(counted, cleared)).To(BeFalse(), "a login that clears the count is recorded")
	})

	It("lets a logged-in user change its own password, and only an officer change others'", func() {
		c := tc.dial(n, "kmsuser", kmsuserPassword)
		Expect(c.ChangePassword(ctx, "admin", "hijack-pw-1")).To(MatchError(hsmwire.ErrPermissionDenied))
		Expect(c.ChangePassword(ctx, "", "x")).To(MatchError(hsmwire.ErrBadRequest))
		Expect(c.ChangePassword(ctx, "", "rotated-pw-1")).To(Succeed())
		Expect(c.Logout(ctx)).To(Succeed())
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrAuthFailed))
		Expect(c.Login(ctx, "kmsuser", "rotated-pw-1")).To(Succeed())
		Expect(c.CreateUser(ctx, "other", "CU", "other-pw-1")).To(MatchError(hsmwire.ErrPermissionDenied))
	})

	It("deletes users, after which they cannot log in", func() {
		co := tc.dial(n, "admin", officerPassword)
		Expect(co.DeleteUser(ctx, "kmsuser")).To(Succeed())
		c := tc.dial(n, "", "")
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(MatchError(hsmwire.ErrUserNotFound))
		Expect(co.DeleteUser(ctx, "app_user")).To(MatchError(hsmwire.ErrPermissionDenied))
		Expect(co.CreateUser(ctx, "kmsuser", "CU", kmsuserPassword)).To(Succeed())
		Expect(c.Login(ctx, "kmsuser", kmsuserPassword)).To(Succeed())
	})

	It("activates when the pre-crypto officer changes its password", func() {
		first := tc.startNode(nodefiles.BootstrapUser{Name: "admin", Role: users.RolePreCO, Password: "initial-pw-1"})
		c := tc.dial(first, "", "")
		info, err := c.Info(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Activated).To(BeFalse())
		Expect(c.Login(ctx, "admin", "initial-pw-1")).To(Succeed())
		Expect(c.CreateUser(ctx, "kmsuser", "CU", kmsuserPassword)).To(MatchError(hsmwire.ErrPermissionDenied))
		Expect(c.ChangePassword(ctx, "", officerPassword)).To(Succeed())
		info, err = c.Info(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Activated).To(BeTrue())
		Expect(c.CreateUser(ctx, "kmsuser", "CU", kmsuserPassword)).To(Succeed())
	})
})

var _ = Describe("Keys", func() {
	var tc *testCluster
	var n *runningNode
	var kms *hsmclient.Conn
	BeforeEach(func() {
		tc = newTestCluster()
		n = tc.startNode()
		tc.withKmsuser(n)
		kms = tc.dial(n, "kmsuser", kmsuserPassword)
	})

	It("encrypts and decrypts with an HSM key, and only for its owner", func() {
		id, err := kms.GenerateKey(ctx, "arn:aws:kms:us-east-1:111122223333:key/abc")
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := kms.Encrypt(ctx, id, []byte("hello"), []byte("ctx"))
		Expect(err).NotTo(HaveOccurred())
		Expect(iv).To(HaveLen(12))
		pt, err := kms.Decrypt(ctx, id, iv, ct, []byte("ctx"))
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("hello")))
		_, err = kms.Decrypt(ctx, id, iv, ct, []byte("other"))
		Expect(err).To(MatchError(hsmwire.ErrInvalidCiphertext))
		_, _, err = kms.Encrypt(ctx, id, make([]byte, 16*1024+1), nil)
		Expect(err).To(MatchError(hsmwire.ErrInputTooLarge))
		keys, err := kms.ListKeys(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(keys).To(ConsistOf(hsmwire.KeyInfo{ID: id, Label: "arn:aws:kms:us-east-1:111122223333:key/abc"}))

		co := tc.dial(n, "admin", officerPassword)
		_, _, err = co.Encrypt(ctx, id, []byte("x"), nil)
		Expect(err).To(MatchError(hsmwire.ErrPermissionDenied))
		Expect(co.CreateUser(ctx, "intruder", "CU", "intruder-pw")).To(Succeed())
		intruder := tc.dial(n, "intruder", "intruder-pw")
		_, err = intruder.Decrypt(ctx, id, iv, ct, []byte("ctx"))
		Expect(err).To(MatchError(hsmwire.ErrPermissionDenied))

		Expect(kms.DeleteKey(ctx, id)).To(Succeed())
		_, _, err = kms.Encrypt(ctx, id, []byte("x"), nil)
		Expect(err).To(MatchError(hsmwire.ErrKeyNotFound))
	})

	It("makes a key created through HSM 1 decrypt through HSM 2", func() {
		second := tc.startNode()
		image, err := tc.dial(n, "app_user", appliancePw).Backup(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(tc.dial(second, "app_user", appliancePw).Restore(ctx, image)).To(Succeed())
		kms2 := tc.dial(second, "kmsuser", kmsuserPassword)

		cluster := hsmclient.NewCluster(kms, kms2)
		id, err := cluster.GenerateKey(ctx, "synced", 2)
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := kms.Encrypt(ctx, id, []byte("made through HSM 1"), nil)
		Expect(err).NotTo(HaveOccurred())
		pt, err := kms2.Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("made through HSM 1")))

		results := cluster.DeleteKey(ctx, id)
		Expect(results).To(HaveLen(2))
		Expect(results).To(HaveEach(BeNil()))
	})

	It("gives a later-added HSM the cluster's users and keys, and no HSM of another cluster", func() {
		id, err := kms.GenerateKey(ctx, "before-the-new-hsm")
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := kms.Encrypt(ctx, id, []byte("old ciphertext"), nil)
		Expect(err).NotTo(HaveOccurred())
		image, err := tc.dial(n, "app_user", appliancePw).Backup(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Contains(image, []byte("kmsuser"))).To(BeFalse(), "a backup is sealed")

		later := tc.startNode()
		Expect(tc.dial(later, "app_user", appliancePw).Restore(ctx, image)).To(Succeed())
		pt, err := tc.dial(later, "kmsuser", kmsuserPassword).Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("old ciphertext")))
		Expect(tc.dial(later, "app_user", appliancePw).Restore(ctx, image)).To(MatchError(hsmwire.ErrNotEmpty))

		stranger := newTestCluster()
		foreign := stranger.startNode()
		Expect(stranger.dial(foreign, "app_user", appliancePw).Restore(ctx, image)).To(MatchError(hsmwire.ErrInvalidCiphertext))
		blob, err := kms.ExportKey(ctx, id)
		Expect(err).NotTo(HaveOccurred())
		stranger.withKmsuser(foreign)
		_, err = stranger.dial(foreign, "kmsuser", kmsuserPassword).ImportKey(ctx, blob)
		Expect(err).To(MatchError(hsmwire.ErrInvalidCiphertext))
	})

	It("keeps its keys, users and lockout counts when reopened", func() {
		id, err := kms.GenerateKey(ctx, "durable")
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := kms.Encrypt(ctx, id, []byte("before restart"), nil)
		Expect(err).NotTo(HaveOccurred())
		c := tc.dial(n, "", "")
		Expect(c.Login(ctx, "kmsuser", "wrong-password")).To(MatchError(hsmwire.ErrAuthFailed))
		Expect(n.node.Close()).To(Succeed())
		Eventually(kms.Done()).Should(BeClosed())

		reopened := serveNode(n.dir)
		co := tc.dial(reopened, "admin", officerPassword)
		list, err := co.ListUsers(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(ContainElement(SatisfyAll(HaveField("Name", "kmsuser"), HaveField("FailedLogins", 1))))
		pt, err := tc.dial(reopened, "kmsuser", kmsuserPassword).Decrypt(ctx, id, iv, ct, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pt).To(Equal([]byte("before restart")))
	})

	It("keeps every key while holding only a few loaded, and a deleted key stays deleted after a restart", func() {
		Expect(n.node.Close()).To(Succeed())
		Eventually(kms.Done()).Should(BeClosed())
		small := serveNode(n.dir, 2)
		user := tc.dial(small, "kmsuser", kmsuserPassword)
		type sealed struct{ id, iv, ct []byte }
		var all []sealed
		for i := range 5 {
			id, err := user.GenerateKey(ctx, fmt.Sprint("key ", i))
			Expect(err).NotTo(HaveOccurred())
			iv, ct, err := user.Encrypt(ctx, id, []byte(id), nil)
			Expect(err).NotTo(HaveOccurred())
			all = append(all, sealed{[]byte(id), iv, ct})
		}
		Expect(user.DeleteKey(ctx, string(all[0].id))).To(Succeed())
		Expect(small.node.Close()).To(Succeed())

		reopened := serveNode(n.dir, 2)
		again := tc.dial(reopened, "kmsuser", kmsuserPassword)
		for round := range 2 { // the second round loads again what the first unloaded
			for _, s := range all[1:] {
				pt, err := again.Decrypt(ctx, string(s.id), s.iv, s.ct, nil)
				Expect(err).NotTo(HaveOccurred(), "round %d, key %s", round, s.id)
				Expect(pt).To(Equal(s.id))
			}
		}
		_, err := again.Decrypt(ctx, string(all[0].id), all[0].iv, all[0].ct, nil)
		Expect(err).To(MatchError(hsmwire.ErrKeyNotFound))
		keys, err := again.ListKeys(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(keys).To(HaveLen(4))
	})

	It("serves 8 goroutines sharing one connection, and 8 with a connection each", func() {
		id, err := kms.GenerateKey(ctx, "busy")
		Expect(err).NotTo(HaveOccurred())
		conns := []*hsmclient.Conn{kms}
		for range 8 {
			conns = append(conns, tc.dial(n, "kmsuser", kmsuserPassword))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			c := kms
			if g >= 8 {
				c = conns[g-7]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := []byte(fmt.Sprintf("goroutine %d", g))
				for range 100 {
					iv, ct, err := c.Encrypt(ctx, id, msg, nil)
					if err != nil {
						errs <- err
						return
					}
					pt, err := c.Decrypt(ctx, id, iv, ct, nil)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(pt, msg) {
						errs <- fmt.Errorf("goroutine %d got %q", g, pt)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		Expect(errs).To(BeEmpty())
	})

	It("fails over to the other HSM when one goes away", func() {
		second := tc.startNode()
		image, err := tc.dial(n, "app_user", appliancePw).Backup(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(tc.dial(second, "app_user", appliancePw).Restore(ctx, image)).To(Succeed())
		cluster := hsmclient.NewCluster(kms, tc.dial(second, "kmsuser", kmsuserPassword))
		id, err := cluster.GenerateKey(ctx, "failover", 2)
		Expect(err).NotTo(HaveOccurred())
		iv, ct, err := cluster.Encrypt(ctx, id, []byte("before"), nil)
		Expect(err).NotTo(HaveOccurred())

		Expect(n.node.Close()).To(Succeed())
		for range 4 {
			pt, err := cluster.Decrypt(ctx, id, iv, ct, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(pt).To(Equal([]byte("before")))
		}
		Expect(cluster.Conns()).To(HaveLen(1))

		// The cluster still has two HSMs: a key made on the one left would
		// be lost with it, so none is made.
		before, err := cluster.Conns()[0].ListKeys(ctx)
		Expect(err).NotTo(HaveOccurred())
		_, err = cluster.GenerateKey(ctx, "one copy only", 2)
		Expect(err).To(MatchError(hsmclient.ErrTooFewHSMs))
		Expect(cluster.Conns()[0].ListKeys(ctx)).To(HaveLen(len(before)))
	})
})

var _ = Describe("Bad input", func() {
	It("answers malformed frames with an error and keeps serving", func() {
		tc := newTestCluster()
		n := tc.startNode()
		raw, err := tls.Dial("tcp", n.addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // raw protocol test
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(raw.Close)
		bw, br := bufio.NewWriter(raw), bufio.NewReader(raw)
		Expect(hsmwire.WriteFrame(bw, []byte{0x07, 0xff, 0xff})).To(Succeed())
		Expect(bw.Flush()).To(Succeed())
		body, err := hsmwire.ReadFrame(br)
		Expect(err).NotTo(HaveOccurred())
		resp, err := hsmwire.DecodeResponse(body)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Status).To(Equal(hsmwire.StatusBadRequest))

		Expect(hsmwire.WriteFrame(bw, hsmwire.AppendRequest(nil, &hsmwire.Request{ID: 9, Op: 200}))).To(Succeed())
		Expect(bw.Flush()).To(Succeed())
		body, err = hsmwire.ReadFrame(br)
		Expect(err).NotTo(HaveOccurred())
		resp, err = hsmwire.DecodeResponse(body)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.ID).To(Equal(uint32(9)))
		Expect(resp.Status).To(Equal(hsmwire.StatusNotLoggedIn))

		// An oversized length prefix ends that connection only.
		_, err = raw.Write([]byte{0xff, 0xff, 0xff, 0xff})
		Expect(err).NotTo(HaveOccurred())
		_, err = hsmwire.ReadFrame(br)
		Expect(err).To(HaveOccurred())
		c := tc.dial(n, "admin", officerPassword)
		Expect(c.CreateUser(ctx, "kmsuser", "XX", kmsuserPassword)).To(MatchError(hsmwire.ErrBadRequest))
		_, err = c.GenerateRandom(ctx, 1<<20)
		Expect(err).To(MatchError(hsmwire.ErrBadRequest))
	})
})
