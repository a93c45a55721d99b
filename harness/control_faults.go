package harness

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/kmsharness/kmsharness/faults"
)

// FaultRequest names a fault and its scope in the control API.
type FaultRequest struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	HSM     string `json:"hsm,omitempty"`
}

func (r FaultRequest) key() string { return r.Name + "|" + r.Cluster + "|" + r.HSM }

// injections are the faults the control API put in place, by request.
type injections struct {
	mu    sync.Mutex
	heals map[string]faults.Heal
}

func (h *Harness) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, faults.Catalogue())
}

func decodeFaultRequest(w http.ResponseWriter, r *http.Request) (FaultRequest, bool) {
	var req FaultRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Name == "" || req.Cluster == "" {
		writeJSON(w, http.StatusBadRequest, controlError{Error: `body must be JSON like {"name": "user-locked-out", "cluster": "cluster-…"}`})
		return req, false
	}
	return req, true
}

func (h *Harness) postFault(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeFaultRequest(w, r)
	if !ok {
		return
	}
	f, err := faults.Lookup(req.Name, faults.Scope{ClusterID: req.Cluster, HSMID: req.HSM})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{Error: err.Error()})
		return
	}
	if _, known := h.ClusterByID(req.Cluster); !known {
		writeJSON(w, http.StatusNotFound, controlError{Error: "no cluster " + req.Cluster + " in this harness"})
		return
	}
	if err := f.Available(faultTarget{h}); err != nil {
		writeJSON(w, http.StatusNotFound, controlError{Error: err.Error()})
		return
	}
	h.faults.mu.Lock()
	if _, dup := h.faults.heals[req.key()]; dup {
		h.faults.mu.Unlock()
		writeJSON(w, http.StatusConflict, controlError{Error: "fault " + req.Name + " is already in place there; heal it first"})
		return
	}
	h.faults.mu.Unlock()
	heal, err := h.InjectFault(r.Context(), f)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, controlError{Error: err.Error()})
		return
	}
	h.faults.mu.Lock()
	if h.faults.heals == nil {
		h.faults.heals = map[string]faults.Heal{}
	}
	h.faults.heals[req.key()] = heal
	h.faults.mu.Unlock()
	writeJSON(w, http.StatusCreated, req)
}

func (h *Harness) healFault(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeFaultRequest(w, r)
	if !ok {
		return
	}
	h.faults.mu.Lock()
	heal, found := h.faults.heals[req.key()]
	delete(h.faults.heals, req.key())
	h.faults.mu.Unlock()
	if !found {
		if _, err := faults.Lookup(req.Name, faults.Scope{ClusterID: req.Cluster, HSMID: req.HSM}); errors.Is(err, faults.ErrUnknownFault) {
			writeJSON(w, http.StatusBadRequest, controlError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusNotFound, controlError{Error: "fault " + req.Name + " is not in place on " + req.Cluster})
		return
	}
	report, err := heal(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, controlError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, report)
}
