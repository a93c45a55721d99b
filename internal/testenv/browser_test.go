package testenv_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

func TestRenderHTMLRunsTheScripts(t *testing.T) {
	page := filepath.Join(t.TempDir(), "page.html")
	html := `<html><body><p id="p">source</p><script>document.getElementById("p").textContent = "rendered";</script></body></html>`
	if err := os.WriteFile(page, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	dom, err := testenv.RenderHTML(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `<p id="p">rendered</p>`) {
		t.Fatalf("the script did not run: %s", dom)
	}
}
