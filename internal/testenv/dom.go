package testenv

import (
	"slices"
	"strings"

	"golang.org/x/net/html"
)

// Elements returns the elements under n (n included) that match, in
// document order: for checking a page RenderHTML returned, once parsed with
// html.Parse.
func Elements(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	if n.Type == html.ElementNode && match(n) {
		out = append([]*html.Node{n}, out...)
	}
	return out
}

// Attr returns an element's attribute, or "".
func Attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// HasClass reports whether an element has the class.
func HasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(Attr(n, "class")), class)
}

// Text returns the text an element holds, trimmed.
func Text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

// Cells returns the texts of a table row's cells.
func Cells(row *html.Node) []string {
	var out []string
	for _, c := range Elements(row, func(n *html.Node) bool { return n != row && (n.Data == "td" || n.Data == "th") }) {
		out = append(out, Text(c))
	}
	return out
}

// ElementByID returns the one element with the id, or nil if there is no
// such element or more than one.
func ElementByID(n *html.Node, id string) *html.Node {
	found := Elements(n, func(e *html.Node) bool { return Attr(e, "id") == id })
	if len(found) != 1 {
		return nil
	}
	return found[0]
}
