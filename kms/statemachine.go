package kms

// ConnectionState is a custom key store's connection state
// (ConnectionStateType), or StateDeleted.
type ConnectionState string

// The connection states of spec §6. DISCONNECTED is the initial state;
// CONNECTING and DISCONNECTING are transient.
const (
	StateDisconnected  ConnectionState = "DISCONNECTED"
	StateConnecting    ConnectionState = "CONNECTING"
	StateConnected     ConnectionState = "CONNECTED"
	StateFailed        ConnectionState = "FAILED"
	StateDisconnecting ConnectionState = "DISCONNECTING"
	// StateDeleted is the state of a store DeleteCustomKeyStore removed:
	// an operation that still holds it (it looked the store up before the
	// delete) finds it gone.
	StateDeleted ConnectionState = "(deleted)"
)

// connectionStates lists every state, for exhaustive tests.
var connectionStates = []ConnectionState{StateDisconnected, StateConnecting, StateConnected, StateFailed, StateDisconnecting, StateDeleted}

// operation is something that happens to a store: a request, or the end of
// the work a request started in the background.
type operation int

const (
	// opConnect is ConnectCustomKeyStore.
	opConnect operation = iota
	// opDisconnect is DisconnectCustomKeyStore.
	opDisconnect
	// opRename is UpdateCustomKeyStore changing nothing but the name.
	opRename
	// opUpdateConnection is UpdateCustomKeyStore changing the kmsuser
	// password or the cluster.
	opUpdateConnection
	// opDelete is DeleteCustomKeyStore.
	opDelete
	// opUseHSMs is work in the store's cluster: CreateKey, GenerateRandom,
	// cryptography with its keys, keeping its HSM sessions.
	opUseHSMs
	// opConnectEnd is the end of a connect's background work.
	opConnectEnd
	// opDisconnectEnd is the end of a disconnect's background work.
	opDisconnectEnd
	// opRestart is a service opening the store's persisted state, which
	// the service before it may have left in a transient state.
	opRestart
)

// operations lists every operation, for exhaustive tests.
var operations = []operation{opConnect, opDisconnect, opRename, opUpdateConnection, opDelete, opUseHSMs, opConnectEnd, opDisconnectEnd, opRestart}

func (op operation) String() string {
	return [...]string{"Connect", "Disconnect", "Rename", "UpdateConnection", "Delete", "UseHSMs", "ConnectEnd", "DisconnectEnd", "Restart"}[op]
}

// outcome is how an operation's own checks or work ended: the cluster
// checks of a connect or an update, the key check of a delete, the login
// and rotation of a connect's background work.
type outcome bool

const (
	succeeded outcome = true
	failed    outcome = false
)

// verdict is the state machine's answer to an operation.
type verdict int

const (
	// proceed: the operation happens and the store moves to next (which
	// may be the state it is in).
	proceed verdict = iota
	// alreadyDone: the operation is accepted but has nothing to do
	// (Connect on a store CONNECTING or CONNECTED).
	alreadyDone
	// refused: not in this state (CustomKeyStoreInvalidStateException).
	refused
	// gone: the store was deleted (CustomKeyStoreNotFoundException).
	gone
	// stale: the end of background work the store has left behind (a
	// connect abandoned by a disconnect); it changes nothing.
	stale
)

func (v verdict) String() string {
	return [...]string{"proceed", "alreadyDone", "refused", "gone", "stale"}[v]
}

// decision is the state machine's answer: a verdict and, when the
// operation proceeds, the state the store moves to.
type decision struct {
	verdict verdict
	next    ConnectionState
}

// decide is the connection state machine of spec §6.1: what op does to a
// store in state when the operation's own checks or work end with out. It
// is pure; every operation on a store asks it, under the service's lock,
// at the moment it changes the store — not only when it starts — so that an
// operation that waited (on the cluster, on the HSMs) finds the state another
// one left, and a race becomes a refused transition.
func decide(state ConnectionState, op operation, out outcome) decision {
	if state == StateDeleted {
		if op == opConnectEnd || op == opDisconnectEnd || op == opRestart {
			return decision{verdict: stale}
		}
		return decision{verdict: gone}
	}
	// to moves the store when the operation's checks passed, and leaves it
	// where it is when they failed.
	to := func(next ConnectionState) decision {
		if out == failed {
			return decision{verdict: proceed, next: state}
		}
		return decision{verdict: proceed, next: next}
	}
	in := func(states ...ConnectionState) bool {
		for _, s := range states {
			if state == s {
				return true
			}
		}
		return false
	}
	switch op {
	case opConnect:
		switch {
		case in(StateDisconnected):
			return to(StateConnecting)
		case in(StateConnecting, StateConnected):
			return decision{verdict: alreadyDone}
		}
	case opDisconnect:
		if in(StateConnecting, StateConnected, StateFailed) {
			return to(StateDisconnecting)
		}
	case opRename:
		if in(StateDisconnected, StateConnected) {
			return to(state)
		}
	case opUpdateConnection:
		if in(StateDisconnected) {
			return to(state)
		}
	case opDelete:
		if in(StateDisconnected) {
			return to(StateDeleted)
		}
	case opUseHSMs:
		if in(StateConnected) {
			return to(state)
		}
	case opConnectEnd:
		if !in(StateConnecting) {
			return decision{verdict: stale}
		}
		if out == failed {
			return decision{verdict: proceed, next: StateFailed}
		}
		return decision{verdict: proceed, next: StateConnected}
	case opDisconnectEnd:
		if !in(StateDisconnecting) {
			return decision{verdict: stale}
		}
		return decision{verdict: proceed, next: StateDisconnected}
	case opRestart:
		switch {
		case in(StateConnecting, StateConnected):
			return decision{verdict: proceed, next: StateConnecting}
		case in(StateDisconnecting):
			return decision{verdict: proceed, next: StateDisconnected}
		}
		return decision{verdict: alreadyDone}
	}
	return decision{verdict: refused}
}
