package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/kmsharness/kmsharness/control"
)

// Outcomes of a call.
const (
	// resultOK: the call answered success.
	resultOK = "ok"
	// resultFail: the call answered an error; it did not happen.
	resultFail = "fail"
	// resultUnknown: no answer (a timeout, a cut connection): the call may
	// or may not have happened, at any time after it started.
	resultUnknown = "unknown"
)

// Phases of a run.
const (
	phaseSetup  = "setup"
	phaseRun    = "run"
	phaseSettle = "settle"
	phaseVerify = "verify"
)

// HistoryVersion is the version of the history.json format.
const HistoryVersion = 1

// HistoryFile is the name of the raw history in a run's directory.
const HistoryFile = "history.json"

// History is everything a run did and saw, in the order calls started:
// what `kmsharness chaos check` checks again.
type History struct {
	Version int `json:"version"`
	// Scenario is the scenario as run (its file text included).
	Scenario *Scenario `json:"scenario"`
	// Seed and Duration are the run's (Duration after --duration).
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"duration"`
	// Replay is the command line that replays the run.
	Replay string `json:"replay"`
	// StartedAt is the wall-clock time of the run's start; every time in
	// the history counts nanoseconds from it on a monotonic clock.
	StartedAt time.Time  `json:"startedAt"`
	Target    TargetInfo `json:"target"`
	// Catalogue is the target's fault catalogue.
	Catalogue []control.Fault `json:"catalogue"`
	Clusters  []ClusterRecord `json:"clusters"`
	Stores    []StoreRecord   `json:"stores"`
	// Plan is the fault schedule as planned from the seed.
	Plan *Plan `json:"plan"`
	// RunStart and RunEnd bound the run phase; LastRepair is when the last
	// heal or repair ended (liveness counts from it).
	RunStart   int64 `json:"runStart"`
	RunEnd     int64 `json:"runEnd"`
	LastRepair int64 `json:"lastRepair"`
	// Operations are the recorded calls.
	Operations []Operation `json:"operations"`
	// Notes are things the run wants people to know (a cleanup that left
	// something behind).
	Notes []string `json:"notes,omitempty"`
}

// TargetInfo names what the run ran against.
type TargetInfo struct {
	Endpoint       string `json:"endpoint"`
	Control        string `json:"control"`
	Implementation string `json:"implementation,omitempty"`
}

// ClusterRecord is a cluster the run used: made for it, or reported by a
// heal (a related cluster from a backup).
type ClusterRecord struct {
	// Index is the scenario's index (spare clusters follow the others);
	// -1 for a cluster a heal made.
	Index int    `json:"index"`
	ID    string `json:"id"`
	Spare bool   `json:"spare,omitempty"`
	// ReplacedBy is the related cluster a heal reported in its place.
	ReplacedBy string `json:"replacedBy,omitempty"`
	// HSMs are the cluster's HSMs as the control API listed them (every
	// one it ever listed: HSMs that a heal added are appended).
	HSMs []control.HSM `json:"hsms"`
}

// StoreRecord is one of the scenario's custom key stores.
type StoreRecord struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
}

// Operation is one recorded call: an AWS API call of a client, the
// observer, a repair or the verification, or a call of the control API
// (an injection or a heal). Times count nanoseconds from the run's start.
type Operation struct {
	ID int `json:"id"`
	// Process is who made the call ("client-3", "observer", "nemesis",
	// "setup", "settle", "verify"); a process makes one call at a time.
	Process string `json:"process"`
	// Workload is the workload operation the call belongs to ("reconnect").
	Workload string `json:"workload,omitempty"`
	Phase    string `json:"phase"`
	// Call is the AWS operation ("Encrypt") or the control call
	// ("InjectFault", "HealFault").
	Call   string `json:"call"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	Result string `json:"result"`
	// Error is the answer of a failed call.
	Error *CallError `json:"error,omitempty"`

	Store   string `json:"store,omitempty"`
	Key     string `json:"key,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	HSM     string `json:"hsm,omitempty"`
	Fault   string `json:"fault,omitempty"`
	// Step is the schedule step of a nemesis call or a repair ("steps[3]").
	Step string `json:"step,omitempty"`

	// NewName is the name an UpdateCustomKeyStore sets; Password says which
	// password it sets ("wrong" or "reported", never the value);
	// NewCluster the cluster it sets.
	NewName    string `json:"newName,omitempty"`
	Password   string `json:"password,omitempty"`
	NewCluster string `json:"newCluster,omitempty"`

	// What a description read: the store's state, error code, name and
	// cluster, or the key's state.
	State     string `json:"state,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
	Name      string `json:"name,omitempty"`
	KeyState  string `json:"keyState,omitempty"`

	// Plaintext is a digest of the plaintext sent (Encrypt) or received
	// (Decrypt, GenerateDataKey); Ciphertext a digest of the ciphertext
	// received (Encrypt, …) or sent (Decrypt). Source is the operation
	// that made the ciphertext a Decrypt or ReEncrypt sent.
	Plaintext  string `json:"plaintext,omitempty"`
	Ciphertext string `json:"ciphertext,omitempty"`
	Source     int    `json:"source,omitempty"`

	// Reported is what a heal reported: a new cluster, a changed password.
	Reported *Reported `json:"reported,omitempty"`
}

// CallError is the answer of a failed call.
type CallError struct {
	// Type is the exception (__type), or "(untyped)" for an error answer
	// without one, "(not AWS JSON)" for an answer the SDK could not read.
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
	Status  int    `json:"status,omitempty"`
}

// Reported is what a heal reported.
type Reported struct {
	Cluster         string `json:"cluster,omitempty"`
	PasswordChanged bool   `json:"passwordChanged,omitempty"`
}

// errorType returns the exception of a failed call ("" otherwise).
func (op *Operation) errorType() string {
	if op.Error == nil {
		return ""
	}
	return op.Error.Type
}

// isOK, isFail, isUnknown report the outcome.
func (op *Operation) isOK() bool      { return op.Result == resultOK }
func (op *Operation) isFail() bool    { return op.Result == resultFail }
func (op *Operation) isUnknown() bool { return op.Result == resultUnknown }

// failedWith reports whether the call failed with the exception.
func (op *Operation) failedWith(exception string) bool {
	return op.isFail() && op.errorType() == exception
}

// String describes the operation for people.
func (op *Operation) String() string {
	s := fmt.Sprintf("#%d %s %s", op.ID, op.Process, op.Call)
	switch {
	case op.Fault != "":
		s += " " + op.Fault + " on " + op.Cluster
		if op.HSM != "" {
			s += "/" + op.HSM
		}
	case op.Key != "":
		s += " key " + op.Key
	case op.Store != "":
		s += " " + op.Store
	}
	s += fmt.Sprintf(" [%s, %s] ", fmtNanos(op.Start), fmtNanos(op.End))
	switch op.Result {
	case resultOK:
		s += "ok"
		if op.State != "" {
			s += " " + op.State
			if op.ErrorCode != "" {
				s += " " + op.ErrorCode
			}
		}
		if op.KeyState != "" {
			s += " " + op.KeyState
		}
	case resultFail:
		s += op.errorType()
	default:
		s += "unknown outcome"
	}
	return s
}

// fmtNanos prints a time of the history in seconds.
func fmtNanos(n int64) string { return fmt.Sprintf("%.3fs", float64(n)/1e9) }

// digest returns a short digest of data, so that the history can link
// plaintexts and ciphertexts without holding them.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:12])
}

// recorder collects operations from concurrent processes on one monotonic
// clock.
type recorder struct {
	base time.Time
	mu   sync.Mutex
	ops  []Operation
}

func newRecorder() *recorder { return &recorder{base: time.Now()} }

// now returns the nanoseconds since the run's start (monotonic).
func (r *recorder) now() int64 { return int64(time.Since(r.base)) }

// add records an operation and returns its ID.
func (r *recorder) add(op Operation) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = len(r.ops) + 1
	r.ops = append(r.ops, op)
	return op.ID
}

// snapshot returns the operations recorded so far, ordered by start.
func (r *recorder) snapshot() []Operation {
	r.mu.Lock()
	out := append([]Operation(nil), r.ops...)
	r.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// count returns how many operations are recorded.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// WriteHistory writes h to dir/history.json.
func WriteHistory(dir string, h *History) error {
	data, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, HistoryFile), data, 0o644)
}

// ReadHistory reads a run's history from its directory (or from the
// history.json file itself).
func ReadHistory(path string) (*History, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, HistoryFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s: not a history: %w", path, err)
	}
	if h.Version != HistoryVersion {
		return nil, fmt.Errorf("%s: history version %d, this kmsharness reads version %d", path, h.Version, HistoryVersion)
	}
	if h.Scenario == nil {
		return nil, fmt.Errorf("%s: the history names no scenario", path)
	}
	sort.SliceStable(h.Operations, func(i, j int) bool { return h.Operations[i].Start < h.Operations[j].Start })
	return &h, nil
}
