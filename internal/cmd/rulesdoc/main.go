// Command rulesdoc writes the conformance kit's rule table as Markdown to
// the file named by its argument (go generate ./suites runs it).
package main

import (
	"fmt"
	"os"

	"github.com/kmsharness/kmsharness/suites"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rulesdoc FILE.md")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(suites.RulesMarkdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "rulesdoc:", err)
		os.Exit(1)
	}
}
