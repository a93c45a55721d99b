package containerbackend

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

// tcLogger passes testcontainers-go's log lines to the backend's logger at
// debug level, so that a run's logs have one format.
type tcLogger struct{ log *slog.Logger }

// Printf implements testcontainers-go's log.Logger.
func (l tcLogger) Printf(format string, args ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)), "from", "testcontainers")
}

// routeDefaultLog sends the few lines testcontainers-go logs outside any
// container (its Docker client's greeting) through the first backend's
// logger; containers get their backend's logger through WithLogger.
var routeDefaultLog sync.Once

func useLogger(log *slog.Logger) {
	routeDefaultLog.Do(func() { tclog.SetDefault(tcLogger{log: log}) })
}
