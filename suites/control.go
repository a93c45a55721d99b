package suites

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// ControlAPI makes clusters through a kmsharness-style control API:
// POST <URL>/clusters answers {"clusterId", "trustAnchorPem", "kmsuserPassword"}.
type ControlAPI struct {
	URL    string
	Client *http.Client
}

// NewCluster asks the control API for a new ready cluster.
func (c ControlAPI) NewCluster(ctx context.Context) (Cluster, error) {
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/clusters", bytes.NewReader([]byte(`{"hsms":2}`)))
	if err != nil {
		return Cluster{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Cluster{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return Cluster{}, fmt.Errorf("control API: %s: %s", resp.Status, body)
	}
	var out struct {
		ClusterID       string `json:"clusterId"`
		TrustAnchorPEM  string `json:"trustAnchorPem"`
		KMSUserPassword string `json:"kmsuserPassword"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return Cluster{}, fmt.Errorf("control API: %w", err)
	}
	return Cluster{ID: out.ClusterID, TrustAnchorPEM: out.TrustAnchorPEM, KMSUserPassword: out.KMSUserPassword}, nil
}
