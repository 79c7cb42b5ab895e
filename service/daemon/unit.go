package daemon

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"medsync/connectors"
	"medsync/service/config"
)

// RootUser in [service] user runs the Linux service as root (not recommended).
const RootUser = "root"

// unitTemplate is the systemd unit medsync installs (kardianos/service's
// SystemdScript option): a dedicated account, a short restart delay that never gives
// up (an MIS down for an hour must not leave the service stopped for good), and a
// read-only view of the system except for the folders medsync writes to.
var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description={{.Description}}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={{.ExecStart}}
WorkingDirectory={{.WorkingDirectory}}
{{- if .User}}
User={{.User}}
Group={{.User}}
{{- end}}
Restart=on-failure
RestartSec=10
TimeoutStopSec=15
UMask=0027
EnvironmentFile=-/etc/default/{{.Name}}
EnvironmentFile=-/etc/sysconfig/{{.Name}}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
ReadWritePaths={{.ReadWritePaths}}

[Install]
WantedBy=multi-user.target
`))

// SystemdUnit is the text of the systemd unit for cfg running exe.
func SystemdUnit(cfg *config.Config, exe string) string {
	var args []string
	for _, a := range append([]string{exe}, serviceArgs(cfg)...) {
		args = append(args, unitQuote(a))
	}
	var rw []string
	for _, p := range WritablePaths(cfg) {
		// "-": a folder deleted later does not stop the unit from starting; medsync
		// then says which folder it cannot write.
		rw = append(rw, unitQuote("-"+p))
	}
	user := cfg.Service.User
	if user == RootUser {
		user = ""
	}
	var b strings.Builder
	_ = unitTemplate.Execute(&b, map[string]string{
		"Description":      unitEscape(cfg.Service.DisplayName + " (config " + cfg.File + ")"),
		"Name":             cfg.Service.Name,
		"ExecStart":        strings.Join(args, " "),
		"WorkingDirectory": unitEscape(cfg.Dir), // one path, unquoted
		"User":             user,
		"ReadWritePaths":   strings.Join(rw, " "),
	})
	return b.String()
}

func serviceArgs(cfg *config.Config) []string { return []string{"-c", cfg.File, "run"} }

// WritablePaths are the folders the service writes to: the state and log folders,
// the SQLite MIS file's folder (the demo MIS is created there on first start), the
// folders connectors declare (connectors.Option.Writes), and [service]
// read_write_paths. Sorted, without duplicates.
func WritablePaths(cfg *config.Config) []string {
	set := map[string]bool{cfg.Service.StateDir: true, cfg.Service.LogDir: true, cfg.Service.BackupDir: true}
	if cfg.MIS.Driver == config.DriverSQLite && filepath.IsAbs(sqliteFile(cfg.MIS.DSN)) {
		set[filepath.Dir(sqliteFile(cfg.MIS.DSN))] = true
	}
	for _, p := range cfg.Service.ReadWritePaths {
		set[p] = true
	}
	for _, cc := range cfg.Connectors {
		if !cc.Enabled || cc.Spec == nil {
			continue
		}
		for _, o := range cc.Spec.Options {
			if o.Writes == connectors.WriteNone {
				continue
			}
			for _, key := range optionKeys(cc.Values, o) {
				v := cc.Values.String(key)
				if v == "" {
					continue
				}
				if !filepath.IsAbs(v) {
					v = filepath.Join(cfg.Dir, filepath.FromSlash(v))
				}
				if o.Writes == connectors.WriteFile {
					v = filepath.Dir(v)
				}
				set[filepath.Clean(v)] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func optionKeys(v *connectors.Values, o connectors.Option) []string {
	if !o.Pattern {
		return []string{o.Name}
	}
	var keys []string
	for _, k := range v.Keys("") {
		if ok, _ := path.Match(o.Name, k); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// sqliteFile is the file part of an SQLite DSN ("file:/x/y.db?_pragma=…" → "/x/y.db").
func sqliteFile(dsn string) string {
	dsn = strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		dsn = dsn[:i]
	}
	return filepath.FromSlash(dsn)
}

// unitEscape escapes systemd specifiers ('%') in free text.
func unitEscape(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// unitQuote makes one word of a systemd command line or path list: quoted when it has
// spaces or quotes, with '%' and '$' doubled (systemd would expand them).
func unitQuote(s string) string {
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// InstallSummary says, for the operator, how the installed service behaves on goos.
func InstallSummary(cfg *config.Config, goos string) string {
	if goos == "linux" {
		who := "the account " + cfg.Service.User
		if cfg.Service.User == RootUser {
			who = "root"
		}
		return fmt.Sprintf("starts at boot as %s; systemd restarts it 10 s after a failure, without giving up; "+
			"read-only system except %s; logs: journalctl -u %s -f, and files in %s",
			who, strings.Join(WritablePaths(cfg), ", "), cfg.Service.Name, cfg.Service.LogDir)
	}
	return fmt.Sprintf("starts automatically; the service manager restarts it 10 s after a failure; logs in %s and the Windows Event Log (source %s)",
		cfg.Service.LogDir, cfg.Service.Name)
}
