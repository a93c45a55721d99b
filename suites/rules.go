package suites

import "sort"

// KitVersion is the conformance kit's semantic version: a new rule or a
// stricter check is a minor version, a rule removed or renamed a major one.
const KitVersion = "1.0.0"

// ModelVersion names the KMS API model the rules were written from (the
// botocore service model's version).
const ModelVersion = "kms 2014-11-01"

// Rule is one checked behaviour of the KMS custom key store API. Its ID is
// stable across kit versions; Text is the one sentence the specs, the
// reports and docs/conformance-rules.md all show.
type Rule struct {
	ID        string // e.g. CKS-CONNECT-003
	Operation string // the API operation it is about, or a group in parentheses
	Text      string
}

// ruleLabelPrefix starts the Ginkgo label that ties a spec to its rule.
const ruleLabelPrefix = "rule:"

// InconclusivePrefix starts the skip message of a spec that could not decide
// its rule on this target (a transient state it cannot hold, say); reports
// show it as inconclusive rather than skipped.
const InconclusivePrefix = "inconclusive: "

// rules is the one table of the kit's rules, in the order docs list them.
// A rule's Text is one sentence, the text of its spec; IDs never change
// meaning (a changed rule gets a new ID).
var rules = []Rule{
	// The wire protocol and authentication.
	{"CKS-PROTOCOL-001", opProtocol, "An unknown X-Amz-Target is answered with UnknownOperationException."},
	{"CKS-PROTOCOL-002", opProtocol, "Malformed JSON is answered with SerializationException."},
	{"CKS-PROTOCOL-003", opProtocol, "A constraint breach is answered with ValidationException in AWS's wording."},
	{"CKS-PROTOCOL-004", opProtocol, "A validation message never shows the key store password."},
	{"CKS-PROTOCOL-005", opProtocol, "An empty body is answered like {}."},
	{"CKS-AUTH-001", opAuth, "A request signed with the configured credentials is accepted."},
	{"CKS-AUTH-002", opAuth, "A request without an Authorization header is answered with MissingAuthenticationTokenException."},
	{"CKS-AUTH-003", opAuth, "An Authorization header that is not SigV4 is answered with IncompleteSignatureException."},
	{"CKS-AUTH-004", opAuth, "A request signed with a wrong secret key is answered with InvalidSignatureException."},
	{"CKS-AUTH-005", opAuth, "A body changed after signing is answered with InvalidSignatureException."},
	{"CKS-AUTH-006", opAuth, "A request dated more than 5 minutes off is answered with InvalidSignatureException."},
	{"CKS-AUTH-007", opAuth, "An unknown access key is answered with UnrecognizedClientException."},

	// The custom key store operations.
	{"CKS-CREATE-001", "CreateCustomKeyStore", "A new store starts DISCONNECTED, with its cluster and trust anchor and no error code."},
	{"CKS-CREATE-002", "CreateCustomKeyStore", "An identical retry returns the existing store's ID, and a taken name is refused."},
	{"CKS-CREATE-003", "CreateCustomKeyStore", "A cluster already in use, a wrong trust anchor and an unknown cluster are refused."},
	{"CKS-CREATE-004", "CreateCustomKeyStore", "A store beyond the account's quota is refused with LimitExceededException."},
	{"CKS-DESCRIBE-001", "DescribeCustomKeyStores", "A filter that matches nothing is answered with CustomKeyStoreNotFoundException, not an empty list."},
	{"CKS-DESCRIBE-002", "DescribeCustomKeyStores", "Pages of DescribeCustomKeyStores list every store once, and a forged marker is refused."},
	{"CKS-CONNECT-001", "ConnectCustomKeyStore", "A connect is asynchronous: the store is CONNECTING first, then CONNECTED."},
	{"CKS-CONNECT-002", "ConnectCustomKeyStore", "A wrong password fails the connect with INVALID_CREDENTIALS, Connect is refused while FAILED, and Disconnect and Update recover the store."},
	{"CKS-CONNECT-003", "ConnectCustomKeyStore", "While CONNECTING, password and cluster updates, delete, CreateKey and GenerateRandom are refused, and Disconnect abandons the connect."},
	{"CKS-DISCONNECT-001", "DisconnectCustomKeyStore", "A disconnect is asynchronous, and a DISCONNECTED store refuses to disconnect."},
	{"CKS-DISCONNECT-002", "DisconnectCustomKeyStore", "While DISCONNECTING, everything but describing is refused."},
	{"CKS-UPDATE-001", "UpdateCustomKeyStore", "A CONNECTED store can be renamed, but its password changes only when DISCONNECTED."},
	{"CKS-UPDATE-002", "UpdateCustomKeyStore", "An update to an unrelated or unknown cluster, or to a taken name, is refused."},
	{"CKS-DELETE-001", "DeleteCustomKeyStore", "Only a DISCONNECTED store without keys is deleted."},
	{"CKS-DELETE-002", "DeleteCustomKeyStore", "A deleted store is gone."},

	// Keys in a CloudHSM key store.
	{"CKS-CREATEKEY-001", "CreateKey", "Keys are created only in a CONNECTED store, Enabled, with the store and cluster in their metadata."},
	{"CKS-KEYSTATE-001", "DisconnectCustomKeyStore", "Keys are Unavailable while their store is disconnected, and come back in their state, with Enable and Disable applied meanwhile."},
	{"CKS-KEYDELETION-001", "ScheduleKeyDeletion", "Keys stay PendingDeletion across a disconnect, and come back Disabled when the deletion is cancelled."},
	{"CKS-DESCRIBEKEY-001", "DescribeKey", "Keys are found by ID, ARN and alias, and unknown ones are NotFoundException."},
	{"CKS-LISTKEYS-001", "ListKeys", "Pages of ListKeys list every key once while keys are being added, and a forged marker is refused."},

	// Cryptography with CloudHSM keys.
	{"CKS-ENCRYPT-001", "Encrypt", "Encrypt and Decrypt round-trip with a CloudHSM key, bound to the encryption context."},
	{"CKS-ENCRYPT-002", "Encrypt", "A Disabled key is refused with DisabledException."},
	{"CKS-REENCRYPT-001", "ReEncrypt", "ReEncrypt moves a ciphertext between a CloudHSM key and an AWS_KMS key."},
	{"CKS-DATAKEY-001", "GenerateDataKey", "Data keys are generated whose ciphertext decrypts to the plaintext."},
	{"CKS-RANDOM-001", "GenerateRandom", "Random bytes are drawn from a CONNECTED store's cluster only."},

	// Aliases.
	{"CKS-ALIAS-001", "CreateAlias", "Aliases name keys for DescribeKey and Encrypt, move between keys, and go away."},
	{"CKS-ALIAS-002", "CreateAlias", "Names outside alias/ and the reserved alias/aws/ prefix are refused."},
	{"CKS-LISTALIASES-001", "ListAliases", "Pages of ListAliases list every alias once."},

	// Connection faults (they need the fault-control API).
	{"CKS-FAULT-001", opFaults, "USER_LOCKED_OUT fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-002", opFaults, "INVALID_CREDENTIALS fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-003", opFaults, "CLUSTER_NOT_FOUND fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-004", opFaults, "INSUFFICIENT_CLOUDHSM_HSMS fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-005", opFaults, "NETWORK_ERRORS fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-006", opFaults, "INTERNAL_ERROR fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-007", opFaults, "USER_NOT_FOUND fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-008", opFaults, "USER_LOGGED_IN fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-009", opFaults, "SUBNET_NOT_FOUND fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-010", opFaults, "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET fails the connect with its code, Connect is refused while FAILED, and the documented repair brings the store back."},
	{"CKS-FAULT-011", opFaults, "Wrong passwords give INVALID_CREDENTIALS until the HSMs lock kmsuser out, then USER_LOCKED_OUT."},
	{"CKS-FAULT-012", opFaults, "Crypto keeps working on the other HSM when one HSM of a CONNECTED store's cluster is lost."},
	{"CKS-FAULT-013", opFaults, "While the network to the cluster is cut, crypto fails promptly with the documented exceptions, and it recovers with no key or ciphertext lost."},
}

// Operations of the rules that are about no single API operation.
const (
	opProtocol = "(protocol)"
	opAuth     = "(authentication)"
	opFaults   = "(connection faults)"
)

// Rules returns the kit's rules, sorted by ID.
func Rules() []Rule {
	out := append([]Rule(nil), rules...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RuleByID returns the rule with the given ID.
func RuleByID(id string) (Rule, bool) {
	for _, r := range rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// RuleLabel is the Ginkgo label a spec of the rule carries.
func RuleLabel(id string) string { return ruleLabelPrefix + id }
