// Command junitsummary prints "ginkgo: N passed, N failed, N skipped" for
// the specs ([It] nodes) of a Ginkgo JUnit report, so that CI logs end with
// a plain count. It exits 1 if the report cannot be read.
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
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: junitsummary REPORT.xml")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "junitsummary:", err)
		os.Exit(1)
	}
	var r report
	if err := xml.Unmarshal(data, &r); err != nil {
		fmt.Fprintln(os.Stderr, "junitsummary:", err)
		os.Exit(1)
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
