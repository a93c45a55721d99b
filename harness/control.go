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
//	POST /clusters {"hsms": N}  → 201 ClusterResponse: a new ready cluster
func (h *Harness) controlHandler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/clusters", h.postCluster).Methods(http.MethodPost)
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
