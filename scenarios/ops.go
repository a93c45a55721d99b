package scenarios

import "sort"

// opKind says what a workload operation acts on.
type opKind int

const (
	// onKey: a key of a store (a setup key, picked by the seed).
	onKey opKind = iota
	// onStore: one of the scenario's stores.
	onStore
	// onSpare: a spare cluster, on which the operation makes (and deletes)
	// stores of its own.
	onSpare
)

// workloadOp describes one operation a workload client can run.
type workloadOp struct {
	kind opKind
	// doc is its line of docs/scenarios.md.
	doc string
}

// workloadOps is the catalogue of workload operations; workload.go runs
// them.
var workloadOps = map[string]workloadOp{
	"encrypt":                             {onKey, "Encrypt 32 seeded random bytes under a key of the store, with an encryption context; the ciphertext joins the store's pool"},
	"decrypt":                             {onKey, "Decrypt a ciphertext of the store's pool (naming its key) and compare the plaintext"},
	"re-encrypt":                          {onKey, "ReEncrypt a ciphertext of the pool under another key of the same store; the new ciphertext joins the pool"},
	"generate-data-key":                   {onKey, "GenerateDataKey (AES_256); the ciphertext joins the pool with its plaintext"},
	"generate-data-key-without-plaintext": {onKey, "GenerateDataKeyWithoutPlaintext (AES_256); the ciphertext joins the pool (its plaintext unknown, so only that it decrypts is checked)"},
	"generate-random":                     {onStore, "GenerateRandom 32 bytes from the store's cluster (CustomKeyStoreId)"},
	"create-key":                          {onStore, "CreateKey in the store (Origin AWS_CLOUDHSM); acknowledged keys must exist at the end"},
	"describe-key":                        {onKey, "DescribeKey: reads the key's state (Enabled, Disabled, or Unavailable while the store is not CONNECTED)"},
	"enable-key":                          {onKey, "EnableKey"},
	"disable-key":                         {onKey, "DisableKey (encryptions with the key then fail with DisabledException until an EnableKey)"},
	"describe":                            {onStore, "DescribeCustomKeyStores for the store: reads its state, error code, name and cluster"},
	"connect":                             {onStore, "ConnectCustomKeyStore once"},
	"disconnect":                          {onStore, "DisconnectCustomKeyStore once"},
	"rename":                              {onStore, "UpdateCustomKeyStore with a new, unique NewCustomKeyStoreName"},
	"update-password":                     {onStore, "UpdateCustomKeyStore with a wrong KeyStorePassword (what a user's mistake looks like; the next connect must fail)"},
	"reconnect":                           {onStore, "DisconnectCustomKeyStore, wait until DISCONNECTED, ConnectCustomKeyStore, wait until CONNECTED or FAILED (describing the store meanwhile)"},
	"wrong-password-reconnect":            {onStore, "as reconnect, with UpdateCustomKeyStore to a wrong password while DISCONNECTED: the connect fails INVALID_CREDENTIALS, and retried it locks kmsuser out"},
	"interrupted-connect":                 {onStore, "ConnectCustomKeyStore, DisconnectCustomKeyStore 0–300 ms later (seeded), wait until DISCONNECTED, connect again and wait until CONNECTED or FAILED"},
	"fresh-store-connect":                 {onSpare, "CreateCustomKeyStore on the spare cluster, connect it, wait for CONNECTED or FAILED, disconnect and delete it"},
	"create-store-twice":                  {onSpare, "two identical CreateCustomKeyStore calls at once on the spare cluster (both must answer the same store), then delete it"},
	"connect-delete-race":                 {onSpare, "CreateCustomKeyStore on the spare cluster, then ConnectCustomKeyStore and DeleteCustomKeyStore at once; clean up whichever won"},
}

// WorkloadOps lists the names of the workload operations, sorted.
func WorkloadOps() []string {
	out := make([]string, 0, len(workloadOps))
	for name := range workloadOps {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// WorkloadOpDoc says what a workload operation does ("" for none).
func WorkloadOpDoc(name string) string { return workloadOps[name].doc }
