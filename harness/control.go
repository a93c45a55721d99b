package harness

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// ClusterResponse is what the control API answers for a cluster.
type ClusterResponse struct {
	ClusterID       string `json:"clusterId"`
	TrustAnchorPEM  string `json:"trustAnchorPem"`
	TrustAnchorFile string `json:"trustAnchorFile"`
	KMSUserPassword string `json:"kmsuserPassword"`
}

type controlError struct {
	Error string `json:"error"`
}

// controlHandler serves the harness's control API (see docs in README):
//
//	POST /clusters {"hsms": N}                    → 201 ClusterResponse: a new ready cluster
//	GET  /clusters/{id}                           → 200 {"clusterId", "hsms": [{"hsmId", "availabilityZone", "state"}]}
//	GET  /faults                                  → 200 the catalogue
//	POST /faults {"name", "cluster", "hsm"}       → 201: the fault is in place
//	POST /faults/heal {"name", "cluster", "hsm"}  → 200 faults.Report: healed
func (h *Harness) controlHandler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/clusters", h.postCluster).Methods(http.MethodPost)
	r.HandleFunc("/clusters/{id}", h.getCluster).Methods(http.MethodGet)
	r.HandleFunc("/faults", h.getFaults).Methods(http.MethodGet)
	r.HandleFunc("/faults", h.postFault).Methods(http.MethodPost)
	r.HandleFunc("/faults/heal", h.healFault).Methods(http.MethodPost)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, controlError{Error: "no such resource"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, controlError{Error: "method not allowed"})
	})
	return r
}

func (h *Harness) postCluster(w http.ResponseWriter, r *http.Request) {
	var req struct {
		HSMs int `json:"hsms"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, controlError{Error: "body must be JSON like {\"hsms\": 2}"})
			return
		}
	}
	if req.HSMs == 0 {
		req.HSMs = 2
	}
	if req.HSMs < 1 || req.HSMs > 28 {
		writeJSON(w, http.StatusBadRequest, controlError{Error: "hsms must be 1 to 28"})
		return
	}
	c, err := h.NewCluster(r.Context(), WithHSMs(req.HSMs))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, controlError{Error: strings.TrimPrefix(err.Error(), "harness: ")})
		return
	}
	writeJSON(w, http.StatusCreated, ClusterResponse{ClusterID: c.ID, TrustAnchorPEM: string(c.TrustAnchorPEM),
		TrustAnchorFile: c.TrustAnchorFile, KMSUserPassword: c.KMSUserPassword})
}

// ClusterHSMs is the control API's view of a cluster's HSMs.
type ClusterHSMs struct {
	ClusterID string    `json:"clusterId"`
	HSMs      []HSMView `json:"hsms"`
}

// HSMView is one HSM in the control API.
type HSMView struct {
	HSMID            string `json:"hsmId"`
	AvailabilityZone string `json:"availabilityZone"`
	State            string `json:"state"`
}

func (h *Harness) getCluster(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	info, err := h.cloudHSM.Cluster(id)
	if err != nil {
		writeJSON(w, http.StatusNotFound, controlError{Error: "no cluster " + id})
		return
	}
	out := ClusterHSMs{ClusterID: id}
	for _, hsm := range info.HSMs {
		out.HSMs = append(out.HSMs, HSMView{HSMID: hsm.ID, AvailabilityZone: hsm.AvailabilityZone, State: hsm.State})
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
