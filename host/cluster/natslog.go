package cluster

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// natsLog is the embedded nats-server's logger: its lines go to the node's
// slog logger with component=nats, at the matching level, so that nothing
// of NATS reaches the output raw. Notices are info; a fatal error is an
// error with fatal=true (the server stops on its own). Traces, which log
// every protocol line, are never enabled.
type natsLog struct{ l *slog.Logger }

var _ server.Logger = natsLog{}

// setNATSLog makes srv log through logger: debug lines only when logger
// logs at debug level.
func setNATSLog(srv *server.Server, logger *slog.Logger) {
	debug := logger.Enabled(context.Background(), slog.LevelDebug)
	srv.SetLoggerV2(natsLog{logger.With("component", "nats")}, debug, false, false)
}

func (n natsLog) Noticef(format string, v ...any) { n.l.Info(fmt.Sprintf(format, v...)) }
func (n natsLog) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLog) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLog) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLog) Tracef(format string, v ...any)  {} // never enabled: see natsLog
func (n natsLog) Fatalf(format string, v ...any) {
	n.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}
