package users_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/softhsm/users"
)

var _ = Describe("Directory", func() {
	var d *users.Directory
	BeforeEach(func() {
		d = users.NewDirectory(nil, 5)
		Expect(d.Create("kmsuser", users.RoleCU, "Passw0rd1")).To(Succeed())
	})

	It("authenticates the right password and refuses a wrong one", func() {
		u, err := d.Authenticate("kmsuser", "Passw0rd1")
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Role).To(Equal(users.RoleCU))
		_, err = d.Authenticate("kmsuser", "wrongpass")
		Expect(err).To(MatchError(users.ErrWrongPassword))
		_, err = d.Authenticate("nobody", "Passw0rd1")
		Expect(err).To(MatchError(users.ErrUserNotFound))
	})

	It("locks after five consecutive failures and refuses even the right password then", func() {
		for i := 1; i <= 4; i++ {
			_, err := d.Authenticate("kmsuser", "wrongpass")
			Expect(err).To(MatchError(users.ErrWrongPassword), "attempt %d", i)
		}
		_, err := d.Authenticate("kmsuser", "wrongpass")
		Expect(err).To(MatchError(users.ErrLockedOut))
		_, err = d.Authenticate("kmsuser", "Passw0rd1")
		Expect(err).To(MatchError(users.ErrLockedOut))
		u, _ := d.Get("kmsuser")
		Expect(d.Locked(u)).To(BeTrue())

		Expect(d.SetPassword("kmsuser", "NewPassw0rd")).To(Succeed())
		_, err = d.Authenticate("kmsuser", "NewPassw0rd")
		Expect(err).NotTo(HaveOccurred())
	})

	It("clears the failure count on a successful login", func() {
		for range 4 {
			_, _ = d.Authenticate("kmsuser", "wrongpass")
		}
		_, err := d.Authenticate("kmsuser", "Passw0rd1")
		Expect(err).NotTo(HaveOccurred())
		for range 4 {
			_, err = d.Authenticate("kmsuser", "wrongpass")
			Expect(err).To(MatchError(users.ErrWrongPassword))
		}
	})

	It("honours a configured threshold", func() {
		strict := users.NewDirectory(d.Snapshot(), 2)
		_, err := strict.Authenticate("kmsuser", "wrongpass")
		Expect(err).To(MatchError(users.ErrWrongPassword))
		_, err = strict.Authenticate("kmsuser", "wrongpass")
		Expect(err).To(MatchError(users.ErrLockedOut))
	})

	It("validates names and passwords without echoing the password", func() {
		Expect(d.Create("kmsuser", users.RoleCU, "Passw0rd1")).To(MatchError(users.ErrUserExists))
		Expect(d.Create("1bad", users.RoleCU, "Passw0rd1")).To(MatchError(users.ErrInvalidName))
		err := d.Create("short", users.RoleCU, "abc12")
		Expect(err).To(MatchError(users.ErrInvalidPassword))
		Expect(err.Error()).NotTo(ContainSubstring("abc12"))
		Expect(d.SetPassword("kmsuser", "x")).To(MatchError(users.ErrInvalidPassword))
	})

	It("turns a pre-crypto officer into a crypto officer when its password changes", func() {
		Expect(d.Create("admin", users.RolePreCO, "initialPw1")).To(Succeed())
		Expect(d.HasRole(users.RolePreCO)).To(BeTrue())
		Expect(d.SetPassword("admin", "officerPw1")).To(Succeed())
		u, _ := d.Get("admin")
		Expect(u.Role).To(Equal(users.RoleCO))
		Expect(d.HasRole(users.RolePreCO)).To(BeFalse())
	})

	It("keeps no password in a snapshot", func() {
		for _, u := range d.Snapshot() {
			Expect(string(u.Hash)).NotTo(ContainSubstring("Passw0rd1"))
			Expect(u.Salt).To(HaveLen(16))
		}
		Expect(d.Delete("kmsuser")).To(Succeed())
		Expect(d.Delete("kmsuser")).To(MatchError(users.ErrUserNotFound))
	})
})
