package suites

import (
	"regexp"
	"strings"
)

// maxReason is the longest reason a report shows, in runes.
const maxReason = 300

// condense condenses a failure or skip message — typically Gomega's, with
// indented object dumps of many lines — into the one line a report shows:
// the assertion's description, then the AWS error code and message, or
// what was expected and what was observed.
func condense(msg string) string {
	toks := tokens(msg)
	var parts []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func() (token, bool) {
			if i+1 < len(toks) {
				return toks[i+1], true
			}
			return token{}, false
		}
		if t.object {
			parts = append(parts, t.text)
			continue
		}
		switch {
		case t.text == "Expected":
			obs, ok := next()
			if !ok || !obs.object {
				parts = append(parts, t.text)
				continue
			}
			i++
			verb, ok := next()
			if !ok || verb.object {
				parts = append(parts, "observed "+obs.text)
				continue
			}
			i++
			want := ""
			if w, ok := next(); ok && w.object {
				want = w.text
				i++
			}
			parts = append(parts, expectation(obs.text, verb.text, want))
		case strings.HasPrefix(t.text, "Unexpected error:"), strings.HasPrefix(t.text, "Expected success, but got an error"):
			if o, ok := next(); ok && o.object {
				i++
				parts = append(parts, "unexpected error: "+o.text)
				if o, ok := next(); ok && o.text == "occurred" {
					i++
				}
				continue
			}
			parts = append(parts, t.text)
		case strings.HasPrefix(t.text, "Expected an error to have occurred"):
			if o, ok := next(); ok && o.object {
				i++
			}
			parts = append(parts, "expected an error, observed none")
		case strings.HasPrefix(t.text, "Timed out after "), strings.HasPrefix(t.text, "Failed after "):
			parts = append(parts, strings.ToLower(t.text[:1])+strings.TrimSuffix(t.text[1:], "."))
		default:
			if o, ok := next(); ok && o.object && strings.HasSuffix(t.text, ":") {
				i++
				parts = append(parts, t.text+" "+o.text)
				continue
			}
			parts = append(parts, t.text)
		}
	}
	return flat(strings.Join(parts, ": "))
}

// flat puts s on one line of at most maxReason runes.
func flat(s string) string { return truncate(strings.Join(strings.Fields(s), " "), maxReason) }

// token is a line of prose or an object dump (condensed) of a message.
type token struct {
	text   string
	object bool
}

// tokens splits a message into prose lines and Gomega's indented object
// dumps, dropping Gomega's advice on truncated dumps.
func tokens(msg string) []token {
	var out []token
	lines := strings.Split(strings.ReplaceAll(msg, "\r\n", "\n"), "\n")
	indented := func(l string) bool { return strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "\t") }
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		switch {
		case trimmed == "":
		case strings.HasPrefix(trimmed, "Gomega truncated this representation"):
			for i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "Learn more here") {
				i++
			}
		case indented(lines[i]):
			j := i
			for j < len(lines) && (indented(lines[j]) || strings.TrimSpace(lines[j]) == "") {
				j++
			}
			out = append(out, token{text: object(lines[i:j]), object: true})
			i = j - 1
		default:
			out = append(out, token{text: trimmed})
		}
	}
	return out
}

// expectation renders Gomega's "Expected <observed> <verb> <wanted>".
func expectation(observed, verb, wanted string) string {
	switch verb {
	case "to equal", "to be equivalent to", "to be identical to":
		return "expected " + wanted + ", observed " + observed
	}
	if wanted != "" {
		verb += " " + wanted
	}
	return "observed " + observed + ", expected " + verb
}

// awsError finds the AWS error code and message in an error string of the
// AWS SDK for Go v2 ("operation error KMS: Op, https response error
// StatusCode: 400, RequestID: …, Code: message").
var awsError = regexp.MustCompile(`^operation error [^:]+: (\w+), (?:.*?https response error StatusCode: \d+, RequestID: [^,]*, )?(?:api error )?(.*)$`)

// address matches the address Gomega writes with a pointer's type: "<*T | 0x…>".
var address = regexp.MustCompile(`<([^<>|]*?)\s*\|\s*0x[0-9a-f]+>`)

// typeHeader matches the type Gomega writes before an object: "<T | 0x…>: ".
var typeHeader = regexp.MustCompile(`^<([^>|]*)(?:\s*\|[^>]*)?>:\s?`)

// object renders one of Gomega's indented object dumps in a line: the
// value of a simple type, the message of an error, or a struct's type and
// first fields — never a pointer's address.
func object(lines []string) string {
	var kept []string
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" {
			kept = append(kept, address.ReplaceAllString(t, "<$1>"))
		}
	}
	if len(kept) == 0 {
		return ""
	}
	first := kept[0]
	typ := ""
	if m := typeHeader.FindStringSubmatch(first); m != nil {
		typ = strings.TrimSpace(m[1])
		first = first[len(m[0]):]
	}
	switch {
	case first == "" && len(kept) > 1 && !strings.HasPrefix(kept[1], "{"):
		// An error: Gomega writes its message on the next line, then the
		// struct behind it.
		return errorLine(kept[1])
	case first == "{" || first == "":
		return typ + "{" + fields(kept[1:]) + "}"
	case typ == "nil" || first == "nil":
		return "nil"
	case strings.HasSuffix(first, "{"):
		return first + fields(kept[1:]) + "}"
	}
	return first
}

// errorLine condenses an AWS SDK error to its operation, code and message.
func errorLine(s string) string {
	if m := awsError.FindStringSubmatch(s); m != nil {
		return m[1] + ": " + m[2]
	}
	return s
}

// fields lists the first set fields of a struct dump, the struct's own
// only: a nested struct, map or list of many lines shows as …, one on a
// line not at all.
func fields(lines []string) string {
	var out []string
	depth := 0
	for _, l := range lines {
		opens := strings.HasSuffix(l, "{") || strings.HasSuffix(l, "[")
		switch {
		case strings.HasPrefix(l, "}") || strings.HasPrefix(l, "]"):
			depth--
			continue
		case depth > 0:
		case opens:
			name, _, _ := strings.Cut(l, ":")
			out = append(out, name+": …")
		case unset(l):
		default:
			out = append(out, strings.TrimSuffix(l, ","))
		}
		if opens {
			depth++
		}
	}
	if len(out) > 4 {
		out = append(out[:4], "…")
	}
	return strings.Join(out, ", ")
}

// unset reports whether a field of a struct dump holds its zero value or a
// struct on one line.
func unset(l string) bool {
	_, value, _ := strings.Cut(l, ": ")
	value = strings.TrimSuffix(value, ",")
	return value == "nil" || value == `""` || value == "false" || value == "0" || strings.HasPrefix(value, "{")
}

// truncate cuts s to n runes, with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
