package suites

import (
	_ "embed"
	"html/template"
	"io"
	"time"
)

//go:embed report.html.tmpl
var reportHTML string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"dur": roundDuration}).Parse(reportHTML))

// WriteHTML writes the report for people as one HTML page: the run in the
// header (endpoint, kit and model version, date, seed, duration, budget),
// the failures first with their one-line reasons, a summary by operation,
// then every rule by operation with its verdict, reason and duration.
func (r Report) WriteHTML(w io.Writer) error { return reportTemplate.Execute(w, r) }

// roundDuration shows a duration to the millisecond below a second, else
// to the tenth of a second.
func roundDuration(d time.Duration) string {
	switch {
	case d > 0 && d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
