// Package control is the kmsharness fault-control protocol: the small HTTP
// API through which conformance suites, chaos scenarios and the kmsharness
// CLI ask a KMS implementation under test for ready CloudHSM clusters, put
// faults in place and heal them, and hold a custom key store in a transient
// connection state. kmsharness serves it; any other KMS implementation that
// serves it can be fault-tested and chaos-tested by the same tools.
//
// The package holds the protocol's request and answer types, an
// http.Handler that serves the protocol over a small Target interface, and
// the one Client that speaks it. It imports the standard library only, so
// that other implementations can serve the protocol without taking on
// kmsharness's dependencies.
//
// Every request carries a bearer token (Authorization: Bearer TOKEN); every
// request with a body is application/json; bodies are decoded strictly (one
// JSON object, no unknown members, nothing after it). The protocol is
// documented for implementers in docs/control-protocol.md.
package control
