// Package logging builds medsync's logger: a log/slog text log written to a rotating
// file in [service] log_dir (gopkg.in/natefinch/lumberjack.v2; size and count from
// the config), copied to stderr when medsync runs in a console, with errors also sent
// to the Windows Event Log or the systemd journal through kardianos/service's Logger.
// Everything passes through a redactor first: no secret from the config (passwords,
// tokens, DSN passwords) and no 9-digit link code reaches any of these outputs.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kardianos/service"
	"gopkg.in/natefinch/lumberjack.v2"

	"medsync/service/config"
)

// FileName is the log file inside [service] log_dir; rotated files get a timestamp.
const FileName = "medsync.log"

// Options choose the outputs besides the log file.
type Options struct {
	// Stderr, when set, receives a copy of every line (interactive runs).
	Stderr io.Writer
	// System, when set, receives errors (and what is logged through System()).
	System service.Logger
	// NoFile leaves out the rotating file (short-lived verbs such as `check`).
	NoFile bool
}

// Logger is medsync's logger with its rotating file.
type Logger struct {
	*slog.Logger
	Redactor *Redactor
	file     *lumberjack.Logger
	system   service.Logger
}

// New builds the logger for cfg. The only error is a log folder that cannot be
// created; the message names the config key.
func New(cfg *config.Config, o Options) (*Logger, error) {
	l := &Logger{Redactor: NewRedactor(config.Secrets(cfg)), system: o.System}
	hopt := &slog.HandlerOptions{Level: cfg.Service.LogLevel, ReplaceAttr: localTime(cfg.Location)}
	var hs []slog.Handler
	if !o.NoFile {
		if err := os.MkdirAll(cfg.Service.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: [service] log_dir: cannot create %s: %w; create the folder or give the service account write access to it", cfg.File, cfg.Service.LogDir, err)
		}
		l.file = &lumberjack.Logger{
			Filename:   filepath.Join(cfg.Service.LogDir, FileName),
			MaxSize:    cfg.Service.LogMaxSizeMB,
			MaxBackups: cfg.Service.LogMaxFiles,
			LocalTime:  true,
		}
		hs = append(hs, slog.NewTextHandler(l.file, hopt))
	}
	if o.Stderr != nil {
		hs = append(hs, slog.NewTextHandler(o.Stderr, hopt))
	}
	if o.System != nil {
		hs = append(hs, &systemHandler{sys: o.System, level: slog.LevelError})
	}
	l.Logger = slog.New(l.Redactor.Handler(slog.NewMultiHandler(hs...)))
	return l, nil
}

// Path returns the current log file ("" when there is none).
func (l *Logger) Path() string {
	if l.file == nil {
		return ""
	}
	return l.file.Filename
}

// System writes msg (redacted) to the log and, when there is one, to the Windows
// Event Log or the journal: start and stop of the service go here.
func (l *Logger) System(msg string, args ...any) {
	l.Info(msg, args...)
	if l.system != nil {
		_ = l.system.Info(l.Redactor.Redact(formatLine(msg, args)))
	}
}

// Close closes the log file.
func (l *Logger) Close() error {
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}

func formatLine(msg string, args []any) string {
	var b strings.Builder
	b.WriteString(msg)
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.Add(args...)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, "", a)
		return true
	})
	return b.String()
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			appendAttr(b, prefix+a.Key+".", g)
		}
		return
	}
	if v.Kind() == slog.KindString && v.String() == "" {
		return
	}
	fmt.Fprintf(b, " %s%s=%v", prefix, a.Key, v)
}

// systemHandler sends records at or above level to a kardianos service.Logger.
type systemHandler struct {
	sys   service.Logger
	level slog.Level
	attrs []slog.Attr
	group string
}

func (h *systemHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *systemHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		appendAttr(&b, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	if r.Level >= slog.LevelError {
		return h.sys.Error(b.String())
	}
	if r.Level >= slog.LevelWarn {
		return h.sys.Warning(b.String())
	}
	return h.sys.Info(b.String())
}

func (h *systemHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr{}, h.attrs...)
	for _, a := range as {
		a.Key = h.group + a.Key
		n.attrs = append(n.attrs, a)
	}
	return &n
}

func (h *systemHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.group = h.group + name + "."
	return &n
}

// localTime writes each line's time in the service zone with its offset
// (2026-12-01T15:04:05.000+03:00), as the status page and the CLI show times: a
// person comparing them never converts from UTC.
func localTime(loc *time.Location) func([]string, slog.Attr) slog.Attr {
	if loc == nil {
		loc = time.Local
	}
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
			a.Value = slog.StringValue(a.Value.Time().In(loc).Format("2006-01-02T15:04:05.000-07:00"))
		}
		return a
	}
}
