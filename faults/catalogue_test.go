package faults_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

func TestFaults(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "faults")
}

// constructors makes one fault with every exported constructor; the
// completeness spec checks that this list is all of them.
var constructors = map[string]faults.Fault{
	"UserLockedOut":             faults.UserLockedOut("c"),
	"InvalidCredentials":        faults.InvalidCredentials("c"),
	"ClusterNotFound":           faults.ClusterNotFound("c"),
	"InsufficientHSMs":          faults.InsufficientHSMs("c"),
	"NetworkErrors":             faults.NetworkErrors("c"),
	"InternalError":             faults.InternalError("c"),
	"UserNotFound":              faults.UserNotFound("c"),
	"UserLoggedIn":              faults.UserLoggedIn("c"),
	"SubnetNotFound":            faults.SubnetNotFound("c"),
	"InsufficientFreeAddresses": faults.InsufficientFreeAddresses("c"),
	"NodeKilled":                faults.NodeKilled("c", "h"),
	"NodeHung":                  faults.NodeHung("c", "h"),
	"NodeDeleted":               faults.NodeDeleted("c", "h"),
	"SlowNode":                  faults.SlowNode("c", "h", time.Second),
	"Network":                   faults.Network("c", "", faults.Timeout{}),
}

// exportedConstructors lists the package's exported functions returning a
// Fault, read from its source.
func exportedConstructors() []string {
	files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(), "faults", "*.go"))
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		Expect(err).NotTo(HaveOccurred())
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == "Fault" {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names
}

// specSources returns the text of every spec file that exercises faults.
func specSources() string {
	var all strings.Builder
	for _, pattern := range []string{"suites/*.go", "kms/*_test.go"} {
		files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(), pattern))
		Expect(err).NotTo(HaveOccurred())
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			all.Write(b)
		}
	}
	return all.String()
}

var _ = Describe("The catalogue", func() {
	It("holds every exported fault, and every fault has a spec exercising it", func() {
		Expect(exportedConstructors()).To(ConsistOf(keys(constructors)), "a new fault constructor must be added to this spec and the catalogue")
		names := map[string]bool{}
		for _, e := range faults.Catalogue() {
			names[e.Name] = true
		}
		for ctor, f := range constructors {
			Expect(names).To(HaveKey(f.Name()), "%s makes %q, which is not in the catalogue", ctor, f.Name())
		}
		sources := specSources()
		for name := range names {
			Expect(sources).To(ContainSubstring(strconv.Quote(name)), "no spec exercises %s", name)
		}
	})

	It("names the ten CloudHSM connection error codes, once each", func() {
		codes := map[string]int{}
		for _, e := range faults.Catalogue() {
			if e.Code != "" {
				codes[e.Code]++
			}
		}
		Expect(codes).To(HaveLen(10))
		Expect(codes).To(HaveEach(1))
	})

	It("looks faults up by name and refuses unknown names and missing scopes", func() {
		f, err := faults.Lookup("user-locked-out", faults.Scope{ClusterID: "cluster-x"})
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Code()).To(Equal("USER_LOCKED_OUT"))
		Expect(f.Scope().ClusterID).To(Equal("cluster-x"))
		_, err = faults.Lookup("no-such-fault", faults.Scope{ClusterID: "c"})
		Expect(err).To(MatchError(faults.ErrUnknownFault))
		_, err = faults.Lookup("node-killed", faults.Scope{ClusterID: "c"})
		Expect(err).To(MatchError(ContainSubstring("needs a cluster and an HSM")))
		_, err = faults.Lookup("network-errors", faults.Scope{})
		Expect(err).To(MatchError(ContainSubstring("needs a cluster")))
	})

	It("describes network toxics in toxiproxy's terms", func() {
		Expect(faults.Latency{Latency: 250 * time.Millisecond, Jitter: 10 * time.Millisecond}.Attributes()).To(Equal(map[string]int64{"latency": 250, "jitter": 10}))
		Expect(faults.Bandwidth{KBPerSecond: 5}.Type()).To(Equal("bandwidth"))
		Expect(faults.ResetPeer{After: time.Second}.Attributes()).To(HaveKeyWithValue("timeout", int64(1000)))
	})
})

func keys(m map[string]faults.Fault) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
