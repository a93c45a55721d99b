package cloudhsm

import (
	"encoding/base64"
	"strings"
)

// paginate returns the page of items after the one named by token (opaque
// to callers: base64 of kind and the last key returned), at most max items
// (defaultMax if max is 0), and the token of the next page ("" at the end).
func paginate[T any](items []T, key func(T) string, kind, token string, max, defaultMax int) ([]T, string, error) {
	// The model bounds max (1 to 100); the handler keeps its own bound too.
	if max <= 0 {
		max = defaultMax
	}
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		after, ok := strings.CutPrefix(string(raw), kind+":")
		if err != nil || !ok {
			return nil, "", invalidRequest("The NextToken is not valid")
		}
		start = -1
		for i, it := range items {
			if key(it) == after {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, "", invalidRequest("The NextToken is not valid")
		}
	}
	end := start + min(max, len(items)-start)
	page := items[start:end]
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key(items[end-1])))
	}
	return page, next, nil
}
