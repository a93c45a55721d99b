package suites

import (
	"errors"

	"github.com/aws/smithy-go"
	"github.com/onsi/gomega/format"
)

// The AWS SDK's errors read, in failure messages, as their text alone.
// Gomega writes an error's text and then walks its value: for the SDK's
// errors, dozens of lines of structs down to the HTTP response and the
// connection state behind it, which the transport may be changing at that
// moment (the race detector reports the read). The registration holds in
// every test binary that imports this package.
var _ = format.RegisterCustomFormatter(func(v any) (string, bool) {
	err, ok := v.(error)
	if !ok {
		return "", false
	}
	var op *smithy.OperationError
	return "", errors.As(err, &op) // its text is already written
})
