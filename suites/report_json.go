package suites

import (
	"encoding/json"
	"io"
	"time"
)

// jsonResults is the JSON results file: the run, then one object per rule.
type jsonResults struct {
	KitVersion    string       `json:"kit_version"`
	ModelVersion  string       `json:"model_version"`
	Endpoint      string       `json:"endpoint"`
	Started       time.Time    `json:"started"`
	Duration      float64      `json:"duration"`
	Seed          int64        `json:"seed"`
	Budget        string       `json:"budget,omitempty"`
	Passed        bool         `json:"passed"`
	Summary       jsonCounts   `json:"summary"`
	SuiteFailures []string     `json:"suite_failures,omitempty"`
	Results       []jsonResult `json:"results"`
}

type jsonCounts struct {
	Total        int `json:"total"`
	Pass         int `json:"pass"`
	Fail         int `json:"fail"`
	Skip         int `json:"skip"`
	Inconclusive int `json:"inconclusive"`
}

type jsonResult struct {
	ID        string  `json:"id"`
	Operation string  `json:"operation"`
	Text      string  `json:"text"`
	Status    Status  `json:"status"`
	Reason    string  `json:"reason"`
	Duration  float64 `json:"duration"`
	Location  string  `json:"location,omitempty"`
}

// WriteJSON writes the results for machines: the run (kit and model
// version, endpoint, start, duration in seconds, seed, budget, summary) and
// "results", one object per rule: id, operation, text, status (pass, fail,
// skip or inconclusive), reason, duration in seconds, and where it failed.
func (r Report) WriteJSON(w io.Writer) error {
	c := r.Counts()
	out := jsonResults{KitVersion: r.KitVersion, ModelVersion: r.ModelVersion, Endpoint: r.Endpoint, Started: r.Started.UTC(),
		Duration: r.Duration.Seconds(), Seed: r.Seed, Budget: r.Budget, Passed: r.Passed(),
		Summary:       jsonCounts{Total: c.Total(), Pass: c.Pass, Fail: c.Fail, Skip: c.Skip, Inconclusive: c.Inconclusive},
		SuiteFailures: r.SuiteFailures, Results: make([]jsonResult, 0, len(r.Results))}
	for _, res := range r.Results {
		out.Results = append(out.Results, jsonResult{ID: res.ID, Operation: res.Operation, Text: res.Text, Status: res.Status,
			Reason: res.Reason, Duration: res.Duration.Seconds(), Location: res.Location})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
