package nbio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lesismal/nbio/logging"
)

// slogger routes nbio's package-wide logger to log/slog.
type slogger struct{}

func (slogger) Debug(format string, v ...any) { logf(slog.LevelDebug, format, v) }
func (slogger) Info(format string, v ...any)  { logf(slog.LevelInfo, format, v) }
func (slogger) Warn(format string, v ...any)  { logf(slog.LevelWarn, format, v) }
func (slogger) Error(format string, v ...any) { logf(slog.LevelError, format, v) }

func logf(level slog.Level, format string, v []any) {
	if l := slog.Default(); l.Enabled(context.Background(), level) {
		l.Log(context.Background(), level, fmt.Sprintf(format, v...), "lib", "nbio")
	}
}

func logError(msg string) { slog.Error(msg, "lib", "nbio") }

var (
	slogOnce    sync.Once
	errBlocking sync.Once
)

// useSlog installs slogger once: nbio has one logger per process.
func useSlog() { slogOnce.Do(func() { logging.SetLogger(slogger{}) }) }
