package control

// Protocol identifies the protocol in Info.
const Protocol = "kmsharness-control"

// Version is the protocol version this package speaks.
const Version = 1

// Environment variables through which tools find a target's control API.
const (
	// EnvURL holds the control API's base URL.
	EnvURL = "KMSHARNESS_CONTROL"
	// EnvToken holds the bearer token the control API requires.
	EnvToken = "KMSHARNESS_CONTROL_TOKEN"
)

// Features a target may serve, as Info lists them.
const (
	// FeatureClusters: POST /clusters, GET and DELETE /clusters/{id}.
	FeatureClusters = "clusters"
	// FeatureFaults: GET /faults, POST /faults, POST /faults/heal.
	FeatureFaults = "faults"
	// FeatureHolds: POST /holds, GET and DELETE /holds/{id}.
	FeatureHolds = "holds"
)

// Info is what GET / answers: which protocol and which parts of it the
// target serves.
type Info struct {
	Protocol       string   `json:"protocol"`
	Version        int      `json:"version"`
	Implementation string   `json:"implementation,omitempty"`
	Features       []string `json:"features"`
}

// Has reports whether the target serves a feature.
func (i Info) Has(feature string) bool {
	for _, f := range i.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// DefaultHSMs is how many HSMs a new cluster gets when the request does not
// say.
const DefaultHSMs = 2

// NewClusterRequest is the body of POST /clusters.
type NewClusterRequest struct {
	// HSMs is how many HSMs the cluster gets, spread over availability
	// zones (DefaultHSMs when nil).
	HSMs *int `json:"hsms,omitempty"`
}

// Cluster is a new ready cluster: ACTIVE, initialised with a fresh trust
// anchor, its crypto officer activated and kmsuser created on every HSM.
type Cluster struct {
	ClusterID      string `json:"clusterId"`
	TrustAnchorPEM string `json:"trustAnchorPem"`
	// TrustAnchorFile is a file holding the trust anchor, for local users;
	// it may be empty.
	TrustAnchorFile string `json:"trustAnchorFile,omitempty"`
	KMSUserPassword string `json:"kmsuserPassword"`
}

// ClusterInfo is what GET /clusters/{id} answers.
type ClusterInfo struct {
	ClusterID string `json:"clusterId"`
	State     string `json:"state,omitempty"`
	HSMs      []HSM  `json:"hsms"`
}

// HSM is one HSM of a cluster.
type HSM struct {
	HSMID            string `json:"hsmId"`
	AvailabilityZone string `json:"availabilityZone"`
	State            string `json:"state"`
}

// Fault is one entry of the fault catalogue (GET /faults).
type Fault struct {
	Name string `json:"name"`
	// Code is the ConnectionErrorCode a connect fails with while the fault
	// is in place ("" for faults that do not fail a connect).
	Code string `json:"code,omitempty"`
	// NeedsHSM says that the fault acts on one HSM, named in the request.
	NeedsHSM    bool   `json:"needsHsm,omitempty"`
	Description string `json:"description"`
}

// FaultRequest names a fault and its scope: the body of POST /faults and
// POST /faults/heal.
type FaultRequest struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	HSM     string `json:"hsm,omitempty"`
}

// HealReport is what healing a fault changed that the caller must pass on
// to UpdateCustomKeyStore (with the store DISCONNECTED) before connecting
// again; each member is set only when it changed.
type HealReport struct {
	KMSUserPassword string `json:"kmsuserPassword,omitempty"`
	ClusterID       string `json:"clusterId,omitempty"`
}

// Transitions a hold can keep a custom key store in.
const (
	// TransitionConnect holds the store's next connect in CONNECTING.
	TransitionConnect = "connect"
	// TransitionDisconnect holds the store's next disconnect in
	// DISCONNECTING.
	TransitionDisconnect = "disconnect"
)

// HoldRequest is the body of POST /holds.
type HoldRequest struct {
	// Store is the custom key store ID.
	Store string `json:"store"`
	// Transition is TransitionConnect or TransitionDisconnect.
	Transition string `json:"transition"`
}

// Hold is an armed hold on a store's next connect or disconnect: when the
// store enters the transient state it stays there until the hold is
// released (DELETE /holds/{id}).
type Hold struct {
	HoldID     string `json:"holdId"`
	Store      string `json:"store"`
	Transition string `json:"transition"`
	// Holding says the store is being held in the transient state now.
	Holding bool `json:"holding"`
	// Ended says the hold is over: released, or ended by its store's
	// deletion or a disconnect that abandoned the held connect.
	Ended bool `json:"ended,omitempty"`
}

// errorBody is the body of every 4xx and 5xx answer.
type errorBody struct {
	Error string `json:"error"`
}
