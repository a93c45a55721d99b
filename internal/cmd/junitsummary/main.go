// Command junitsummary prints "ginkgo: N passed, N failed, N skipped" for
// the specs ([It] nodes) of Ginkgo JUnit reports (make test writes one for
// the raced suites and one for the others), so that CI logs end with a
// plain count. It exits 1 if a report cannot be read.
package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"
)

type report struct {
	Suites []struct {
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Status  string    `xml:"status,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: junitsummary REPORT.xml...")
		os.Exit(2)
	}
	var r report
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "junitsummary:", err)
			os.Exit(1)
		}
		var one report
		if err := xml.Unmarshal(data, &one); err != nil {
			fmt.Fprintln(os.Stderr, "junitsummary:", path+":", err)
			os.Exit(1)
		}
		r.Suites = append(r.Suites, one.Suites...)
	}
	var passed, failed, skipped int
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil || c.Error != nil:
				failed++ // a failing suite node (BeforeSuite…) counts too
			case !strings.HasPrefix(c.Name, "[It]"):
			case c.Skipped != nil:
				skipped++
			default:
				passed++
			}
		}
	}
	fmt.Printf("ginkgo: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
}
