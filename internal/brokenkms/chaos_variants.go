package brokenkms

import (
	"net/http"
	"sync"
)

// ChaosVariant is a broken front end that a check of the chaos scenarios
// must catch: Check names the check (scenarios.Check…) that must fail.
type ChaosVariant struct {
	Variant
	Check string
}

// ChaosVariants returns the broken front ends the chaos checks must catch,
// each new (a variant that loses keys remembers which).
func ChaosVariants() []ChaosVariant {
	return []ChaosVariant{connectedEarly(), losesKeys(), wrongStateException()}
}

// connectedEarly reports CONNECTED while a store is still CONNECTING: a
// description claims a connect succeeded before (or although) it did.
func connectedEarly() ChaosVariant {
	return ChaosVariant{Check: "connection-states", Variant: Variant{Name: "connected-early",
		Rule:     "a store is CONNECTED only once a connect logged in",
		response: describedAs("CONNECTING", "CONNECTED")}}
}

// losesKeys acknowledges every CreateKey but loses the keys made after
// the first: any later request naming one answers NotFoundException.
func losesKeys() ChaosVariant {
	var mu sync.Mutex
	created := 0
	lost := map[string]bool{}
	return ChaosVariant{Check: "durability", Variant: Variant{Name: "loses-keys",
		Rule: "every acknowledged CreateKey exists",
		response: func(op string, req map[string]any, status int, body map[string]any) (int, map[string]any) {
			mu.Lock()
			defer mu.Unlock()
			if op == "CreateKey" && status == http.StatusOK {
				if md, ok := body["KeyMetadata"].(map[string]any); ok {
					created++
					if created > 1 {
						lost[md["KeyId"].(string)] = true
						lost[md["Arn"].(string)] = true
					}
				}
				return status, body
			}
			if id, ok := req["KeyId"].(string); ok && lost[id] {
				return http.StatusBadRequest, map[string]any{"__type": "NotFoundException", "message": "Key '" + id + "' does not exist"}
			}
			return status, body
		}}}
}

// wrongStateException answers KMSInvalidStateException where the spec
// says CustomKeyStoreInvalidStateException (a store in the wrong state
// for Connect, Disconnect, CreateKey, …).
func wrongStateException() ChaosVariant {
	return ChaosVariant{Check: "errors", Variant: Variant{Name: "wrong-state-exception",
		Rule: "a store in the wrong state answers CustomKeyStoreInvalidStateException",
		response: func(_ string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			if body["__type"] == "CustomKeyStoreInvalidStateException" {
				body["__type"] = "KMSInvalidStateException"
			}
			return status, body
		}}}
}
