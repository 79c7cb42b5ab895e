package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	_ "medsync/connectors/file"
)

type nopConn struct{}

func (nopConn) Deliver(_ context.Context, b []connectors.Event) []error { return make([]error, len(b)) }
func (nopConn) Close() error                                            { return nil }

func init() {
	connectors.Register(&connectors.Spec{
		Name:     "testpeer",
		Entities: []string{"doctor", "slot", "appointment"},
		Options: []connectors.Option{
			{Name: "server", Required: true, Help: "peer URL"},
			{Name: "token", Secret: true},
			{Name: "timeout", Default: "30s"},
			{Name: "org.*.inbox", Pattern: true},
			{Name: "org.*.password", Pattern: true, Secret: true},
		},
		New: func(connectors.Env, *connectors.Values) (connectors.Connector, error) { return nopConn{}, nil },
	})
}

const minimal = "[mis]\ndriver = sqlite\ndsn = demo/demo.db\n"

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.ini")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	t.Setenv("MEDSYNC_TEST_SET", "x")
	tests := []struct {
		name string
		text string
		want []string // substrings of the error
	}{
		{"typo suggests key", "[mis]\ndrvier = sqlite\ndsn = x.db\n", []string{"config.ini: [mis] drvier: unknown key; did you mean \"driver\"?", "[mis] driver: is required; allowed: sqlserver, postgres, mysql, sqlite, firebird"}},
		{"typo in service", minimal + "[service]\nintervall = 5\n", []string{"[service] intervall: unknown key; did you mean \"interval\"?"}},
		{"part of keys", minimal + "[connector.testpeer]\nserver = x\norg = 1\n", []string{"[connector.testpeer] org: unknown key; did you mean \"org.*.inbox\" or \"org.*.password\"?"}},
		{"far-off key lists allowed", minimal + "[guard]\nfoo = 1\n", []string{"[guard] foo: unknown key; allowed: max_delete_share, min_delete_count"}},
		{"missing mis", "[service]\ninterval = 5\n", []string{"[mis] section is missing"}},
		{"missing dsn", "[mis]\ndriver = postgres\n", []string{"[mis] dsn: is required"}},
		{"bad driver", "[mis]\ndriver = oracle\ndsn = x\n", []string{"[mis] driver: \"oracle\" is not allowed; allowed: sqlserver, postgres, mysql, sqlite, firebird"}},
		{"interval 0", minimal + "[service]\ninterval = 0\n", []string{"[service] interval: 0 is out of range; allowed: 1..1440"}},
		{"backup too often", minimal + "[service]\nbackup_every = 10m\n", []string{"[service] backup_every: 10m is too short; allowed: 0 (no scheduled backups) or at least 1h"}},
		{"backup keep 0", minimal + "[service]\nbackup_keep = 0\n", []string{"[service] backup_keep: 0 is out of range; allowed: 1..1000"}},
		{"interval not a number", minimal + "[service]\ninterval = 5m\n", []string{"[service] interval: \"5m\" is not a whole number"}},
		{"interval and schedule", minimal + "[service]\ninterval = 5\nschedule = @every 2m\n", []string{"[service] interval, schedule: both are set"}},
		{"malformed cron", minimal + "[service]\nschedule = */5 * * *\n", []string{"[service] schedule: \"*/5 * * *\" is not a cron expression"}},
		{"bad zone", minimal + "[service]\ntimezone = Europe/Moskva\n", []string{"[service] timezone: \"Europe/Moskva\" is not a known time zone"}},
		{"bad log level", minimal + "[service]\nlog_level = verbose\n", []string{"[service] log_level: \"verbose\" is not allowed; allowed: debug, info, warn, error"}},
		{"bad listen", minimal + "[service]\nstatus_listen = 8470\n", []string{"[service] status_listen: \"8470\" is not host:port"}},
		{"bad duration", minimal + "query_timeout = 1 minute\n", []string{"[mis] query_timeout: \"1 minute\" is not a duration; write e.g. 30s, 10m or 1h30m"}},
		{"days_ahead 0", minimal + "days_ahead = 0\n", []string{"[mis] days_ahead: 0 is out of range; allowed: 1..365"}},
		{"bad charset", minimal + "charset = koi8-r\n", []string{"[mis] charset: \"koi8-r\" is not allowed; allowed: utf-8, cp1251"}},
		{"missing profile folder", minimal + "profile = profiles/medialog\n", []string{"[mis] profile: \"profiles/medialog\" is neither a built-in profile"}},
		{"share above 1", minimal + "[guard]\nmax_delete_share = 1.5\n", []string{"[guard] max_delete_share: 1.5 is out of range; allowed: 0..1"}},
		{"backoff max below initial", minimal + "[dispatch]\nbackoff_initial = 1m\nbackoff_max = 10s\n", []string{"[dispatch] backoff_max: 10s is shorter than backoff_initial 1m0s"}},
		{"unknown connector type", minimal + "[connector.ondok]\nserver = x\n", []string{"[connector.ondok] type: unknown connector type \"ondok\"; registered types: file, testpeer"}},
		{"unknown connector type close", minimal + "[connector.out]\ntype = fiel\n", []string{"did you mean \"file\"? registered types: file, testpeer"}},
		{"connector unknown key", minimal + "[connector.file]\npaht = x.jsonl\n", []string{"[connector.file] paht: unknown key; did you mean \"path\"?"}},
		{"connector required option", minimal + "[connector.testpeer]\ntoken = t\n", []string{"[connector.testpeer] server: is required for connector type testpeer (peer URL)"}},
		{"disabled connector keeps unknown-key check", minimal + "[connector.testpeer]\nenabled = false\nsevrer = x\n", []string{"[connector.testpeer] sevrer: unknown key; did you mean \"server\"?"}},
		{"connector bad bool", minimal + "[connector.file]\nenabled = maybe\n", []string{"[connector.file] enabled: \"maybe\" is not true or false"}},
		{"connector batch size", minimal + "[connector.file]\nbatch_size = 0\n", []string{"[connector.file] batch_size: 0 is out of range 1..10000"}},
		{"connector unknown entity", minimal + "[connector.file]\nentities = doctr\n", []string{"[connector.file] entities: unknown entity \"doctr\"; did you mean \"doctor\"?"}},
		{"connector entity not taken", minimal + "[connector.testpeer]\nserver = x\nentities = patient\n", []string{"[connector.testpeer] entities: connector type testpeer does not take entity \"patient\"; it takes: doctor, slot, appointment"}},
		{"connector bad name", minimal + "[connector.my file]\ntype = file\n", []string{"connector name \"my file\" may hold only"}},
		{"unknown section", minimal + "[servise]\n", []string{"[servise] unknown section; did you mean \"service\"?"}},
		{"misspelt connector section", minimal + "[conector.file]\n", []string{"[conector.file] unknown section; did you mean \"connector.file\"?"}},
		{"key outside section", "interval = 5\n" + minimal, []string{"key \"interval\" is outside any section"}},
		{"key twice", "[mis]\ndriver = sqlite\ndriver = postgres\ndsn = x\n", []string{"[mis] driver: is set 2 times"}},
		{"env unset", "[mis]\ndriver = postgres\ndsn = postgres://u:${env:MEDSYNC_TEST_UNSET}@h/db\n", []string{"[mis] dsn: environment variable MEDSYNC_TEST_UNSET is not set"}},
		{"env unclosed", "[mis]\ndriver = postgres\ndsn = ${env:MEDSYNC_TEST_SET\n", []string{"[mis] dsn: ${env: is not closed"}},
		{"env in connector", minimal + "[connector.testpeer]\nserver = x\ntoken = ${env:MEDSYNC_TEST_NOPE}\n", []string{"[connector.testpeer] token: environment variable MEDSYNC_TEST_NOPE is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.text)
			cfg, err := Load(p)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q\n%s", tt.want, cfg.Show())
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if !strings.Contains(msg, p) {
				t.Errorf("error does not name the file %s:\n%s", p, msg)
			}
			if strings.Contains(msg, "goroutine") || strings.Contains(msg, ".go:") {
				t.Errorf("error looks like a stack trace:\n%s", msg)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.ini"))
	if err == nil || !strings.Contains(err.Error(), "nope.ini: config file not found") {
		t.Fatalf("got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	p := write(t, minimal+"[connector.file]\n")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	s := cfg.Service
	if s.Name != "medsync" || s.DisplayName != "medsync — интеграция МИС" || s.Interval != 5 || s.Schedule != "" ||
		s.StateDir != filepath.Join(dir, "state") || s.LogDir != filepath.Join(dir, "logs") || s.Timezone != "Europe/Moscow" ||
		s.LogLevel.String() != "INFO" || s.LogMaxSizeMB != 10 || s.LogMaxFiles != 10 || s.StatusListen != "127.0.0.1:8470" {
		t.Errorf("service defaults: %+v", s)
	}
	if cfg.File != p || cfg.Dir != dir || cfg.Location.String() != "Europe/Moscow" || cfg.Interval() != 5*time.Minute {
		t.Errorf("file %q dir %q loc %v interval %v", cfg.File, cfg.Dir, cfg.Location, cfg.Interval())
	}
	m := cfg.MIS
	if m.Driver != "sqlite" || m.DSN != filepath.Join(dir, "demo", "demo.db") || m.Profile != "demo" || m.DaysBack != 1 ||
		m.DaysAhead != 14 || m.QueryTimeout != time.Minute || m.Charset != "utf-8" || m.FullReadEvery != 24*time.Hour {
		t.Errorf("mis defaults: %+v", m)
	}
	if cfg.Guard.MaxDeleteShare != 0.2 || cfg.Guard.MinDeleteCount != 20 {
		t.Errorf("guard defaults: %+v", cfg.Guard)
	}
	if d := cfg.Dispatch; d.BackoffInitial != 5*time.Second || d.BackoffMax != 10*time.Minute || d.MaxAttempts != 0 {
		t.Errorf("dispatch defaults: %+v", d)
	}
	if len(cfg.Connectors) != 1 {
		t.Fatalf("connectors: %+v", cfg.Connectors)
	}
	cc := cfg.Connectors[0]
	if cc.Name != "file" || cc.Type != "file" || !cc.Enabled || cc.BatchSize != 100 || len(cc.Entities) != 8 ||
		cc.Values.String("path") != "out/events.jsonl" || cc.Values.String("fsync") != "true" || cc.Spec == nil {
		t.Errorf("connector defaults: %+v %q", cc, cc.Values.String("path"))
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, cfg.Location)
	if next := cfg.Schedule().Next(now); !next.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("schedule next = %v", next)
	}
	env := cfg.Env(cc, nil)
	if env.Instance != "file" || env.BaseDir != dir || env.StateDir != s.StateDir {
		t.Errorf("env: %+v", env)
	}
}

func TestValues(t *testing.T) {
	t.Setenv("MIS_PASSWORD", "s3cr;et")
	t.Setenv("PEER_TOKEN", "tok-123456")
	abs := filepath.Join(t.TempDir(), "abs-state")
	text := `; comment
[Service]
Schedule = CRON_TZ=Europe/Moscow */10 7-21 * * 1-6
state_dir = ` + abs + `
timezone = Asia/Yekaterinburg
log_level = DEBUG
status_listen = :9000

[mis]
driver = sqlserver
dsn = sqlserver://medsync:${env:MIS_PASSWORD}@mis-srv?database=clinic  ; inline comment
days_back = 0
query_timeout = 90
charset = Windows-1251
full_read_every = 6h

[guard]
max_delete_share = 0,5
min_delete_count = 0

[dispatch]
backoff_initial = 2s
backoff_max = 1h
max_attempts = 12

[connector.peer2]
type = testpeer
server = https://peer.example.ru
token = ${env:PEER_TOKEN}
entities = slot, Doctor, slot
batch_size = 50
org.7701.inbox = in/7701
org.7701.password = pw#7701
enabled = no

[connector.file]
path = C:\medsync\out\events.jsonl
`
	p := write(t, "\ufeff"+strings.ReplaceAll(text, "\n", "\r\n")) // as Notepad saves it: BOM and CRLF
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Service.Schedule == "" || cfg.Interval() != 0 || cfg.Service.StateDir != abs || cfg.Service.LogLevel.String() != "DEBUG" {
		t.Errorf("service: %+v", cfg.Service)
	}
	mon := time.Date(2026, 11, 23, 21, 55, 0, 0, cfg.Location) // Monday 21:55 in Yekaterinburg = 19:55 in Moscow
	if next, want := cfg.Schedule().Next(mon), time.Date(2026, 11, 23, 20, 0, 0, 0, Moscow(t)); !next.Equal(want) {
		t.Errorf("next = %v, want %v", next, want)
	}
	m := cfg.MIS
	if m.DSN != "sqlserver://medsync:s3cr;et@mis-srv?database=clinic" || m.DaysBack != 0 || m.QueryTimeout != 90*time.Second || m.Charset != "cp1251" || m.FullReadEvery != 6*time.Hour {
		t.Errorf("mis: %+v", m)
	}
	if cfg.Guard.MaxDeleteShare != 0.5 || cfg.Guard.MinDeleteCount != 0 || cfg.Dispatch.MaxAttempts != 12 || cfg.Dispatch.BackoffMax != time.Hour {
		t.Errorf("guard %+v dispatch %+v", cfg.Guard, cfg.Dispatch)
	}
	if len(cfg.Connectors) != 2 {
		t.Fatalf("connectors: %+v", cfg.Connectors)
	}
	pc := cfg.Connectors[0]
	if pc.Name != "peer2" || pc.Type != "testpeer" || pc.Enabled || pc.BatchSize != 50 ||
		!slices.Equal(pc.Entities, []string{"slot", "doctor"}) || pc.Values.String("timeout") != "30s" ||
		pc.Values.String("token") != "tok-123456" || pc.Values.String("org.7701.password") != "pw#7701" {
		t.Errorf("peer2: %+v", pc)
	}
	if got := pc.Values.Keys("org."); !slices.Equal(got, []string{"org.7701.inbox", "org.7701.password"}) {
		t.Errorf("Keys(org.) = %v", got)
	}
	if en := cfg.Enabled(); len(en) != 1 || en[0].Name != "file" {
		t.Errorf("Enabled() = %+v", en)
	}
	if got := cfg.Connectors[1].Values.String("path"); got != `C:\medsync\out\events.jsonl` {
		t.Errorf("windows path = %q", got)
	}

	show := cfg.Show()
	for _, secret := range []string{"s3cr;et", "tok-123456", "pw#7701"} {
		if strings.Contains(show, secret) {
			t.Errorf("Show leaks %q:\n%s", secret, show)
		}
	}
	for _, want := range []string{"dsn = sqlserver://medsync:******@mis-srv?database=clinic", "token = ******", "org.7701.password = ******", "org.7701.inbox = in/7701", "schedule = CRON_TZ", "max_delete_share = 0.5", "query_timeout = 1m30s", "full_read_every = 6h", "backoff_max = 1h"} {
		if !strings.Contains(show, want) {
			t.Errorf("Show lacks %q:\n%s", want, show)
		}
	}
	if got := Secrets(cfg); !slices.Equal(got, []string{"tok-123456", "pw#7701", "s3cr;et"}) {
		t.Errorf("Secrets = %q", got)
	}
}

func Moscow(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleInServiceZone(t *testing.T) {
	cfg, err := Load(write(t, minimal+"[service]\nschedule = 0 7 * * *\ntimezone = Asia/Yekaterinburg\n"))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC) // 06:30 in Yekaterinburg (+05)
	want := time.Date(2026, 11, 23, 7, 0, 0, 0, cfg.Location)
	if next := cfg.Schedule().Next(from); !next.Equal(want) {
		t.Errorf("next = %v, want %v (07:00 in the service zone)", next, want)
	}
	every, err := Load(write(t, minimal+"[service]\nschedule = @every 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if next := every.Schedule().Next(from); !next.Equal(from.Add(2 * time.Minute)) {
		t.Errorf("@every 2m: next = %v", next)
	}
}

func TestDisabledConnectorMayBeIncomplete(t *testing.T) {
	cfg, err := Load(write(t, minimal+"[connector.testpeer]\nenabled = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Connectors) != 1 || cfg.Connectors[0].Enabled || len(cfg.Enabled()) != 0 {
		t.Errorf("connectors: %+v", cfg.Connectors)
	}
}

func TestMaskDSN(t *testing.T) {
	tests := []struct {
		driver, dsn, want string
		secrets           []string
	}{
		{"sqlserver", "sqlserver://user:pass@host?database=x", "sqlserver://user:******@host?database=x", []string{"pass"}},
		{"sqlserver", "sqlserver://sa:p%40ss@host:1433/SQLEXPRESS?database=mis&password=other", "sqlserver://sa:******@host:1433/SQLEXPRESS?database=mis&password=******", []string{"p%40ss", "p@ss", "other"}},
		{"sqlserver", "server=mis-srv\\SQLEXPRESS;user id=sa;password=Str0ng!;database=Clinic", "server=mis-srv\\SQLEXPRESS;user id=sa;password=******;database=Clinic", []string{"Str0ng!"}},
		{"sqlserver", "odbc:server=h;uid=sa;PWD={a;b}}c};database=d", "odbc:server=h;uid=sa;PWD=******;database=d", []string{"a;b}c", "{a;b}}c}"}},
		{"sqlserver", "sqlserver://host?database=x", "sqlserver://host?database=x", nil},
		{"postgres", "postgres://medsync:pg-pass@127.0.0.1:5432/mis?sslmode=disable", "postgres://medsync:******@127.0.0.1:5432/mis?sslmode=disable", []string{"pg-pass"}},
		{"postgres", "postgresql://medsync@127.0.0.1/mis", "postgresql://medsync@127.0.0.1/mis", nil},
		{"postgres", "host=127.0.0.1 user=medsync password=pg-pass dbname=mis", "host=127.0.0.1 user=medsync password=****** dbname=mis", []string{"pg-pass"}},
		{"postgres", "host=h password='with space\\'s' dbname=mis", "host=h password=****** dbname=mis", []string{"with space's", "'with space\\'s'"}},
		{"postgres", "host=h password = spaced dbname=mis", "host=h password = ****** dbname=mis", []string{"spaced"}},
		{"mysql", "user:pass@tcp(host)/db", "user:******@tcp(host)/db", []string{"pass"}},
		{"mysql", "medsync:p@ss:w/rd@tcp(127.0.0.1:3306)/mis?charset=utf8mb4&parseTime=true", "medsync:******@tcp(127.0.0.1:3306)/mis?charset=utf8mb4&parseTime=true", []string{"p@ss:w/rd"}},
		{"mysql", "medsync@tcp(host)/db", "medsync@tcp(host)/db", nil},
		{"sqlite", "/opt/medsync/demo/demo.db", "/opt/medsync/demo/demo.db", nil},
		{"firebird", "SYSDBA:fb-Secret1@mis-srv:3050/var/db/clinic.fdb?charset=WIN1251", "SYSDBA:******@mis-srv:3050/var/db/clinic.fdb?charset=WIN1251", []string{"fb-Secret1"}},
		{"firebird", "medsync:p%40ss@mis-srv/C:/Data/CLINIC.FDB", "medsync:******@mis-srv/C:/Data/CLINIC.FDB", []string{"p%40ss", "p@ss"}},
	}
	for _, tt := range tests {
		got, secrets := maskDSN(tt.driver, tt.dsn)
		if got != tt.want {
			t.Errorf("maskDSN(%s, %q) = %q, want %q", tt.driver, tt.dsn, got, tt.want)
		}
		if !slices.Equal(secrets, tt.secrets) {
			t.Errorf("maskDSN(%s, %q) secrets = %q, want %q", tt.driver, tt.dsn, secrets, tt.secrets)
		}
	}
}

func TestSQLitePath(t *testing.T) {
	dir := filepath.Join(string(filepath.Separator)+"srv", "medsync")
	tests := []struct{ in, want string }{
		{"demo/demo.db", filepath.Join(dir, "demo", "demo.db")},
		{"file:demo/demo.db?_pragma=busy_timeout(5000)", "file:" + filepath.ToSlash(filepath.Join(dir, "demo", "demo.db")) + "?_pragma=busy_timeout(5000)"},
		{"/var/lib/mis.db", "/var/lib/mis.db"},
		{":memory:", ":memory:"},
	}
	for _, tt := range tests {
		if got := sqlitePath(tt.in, dir); got != tt.want {
			t.Errorf("sqlitePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"driver", "dsn", "profile", "days_back", "days_ahead"}
	tests := []struct{ in, want string }{
		{"drvier", "driver"}, {"DRIVER", "driver"}, {"dns", "dsn"}, {"profil", "profile"},
		{"days_bak", "days_back"}, {"password", ""}, {"x", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.in, keys); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGuardHoldDeletes(t *testing.T) {
	g := Guard{MaxDeleteShare: 0.2, MinDeleteCount: 20}
	tests := []struct {
		n, known int
		hold     bool
	}{{20, 30, false}, {21, 30, true}, {200, 1000, false}, {201, 1000, true}, {0, 0, false}}
	for _, tt := range tests {
		if got := g.HoldDeletes(tt.n, tt.known); got != tt.hold {
			t.Errorf("HoldDeletes(%d, %d) = %v", tt.n, tt.known, got)
		}
	}
}

func TestShippedConfig(t *testing.T) {
	cfg, err := Load("../../config.ini")
	if err != nil {
		t.Fatalf("the shipped config.ini does not load:\n%v", err)
	}
	if cfg.MIS.Driver != DriverSQLite || cfg.MIS.Profile != ProfileDemo || cfg.Interval() != 5*time.Minute || cfg.Location.String() != "Europe/Moscow" {
		t.Errorf("shipped config: %+v %+v", cfg.MIS, cfg.Service)
	}
	if en := cfg.Enabled(); len(en) != 1 || en[0].Type != "file" {
		t.Errorf("shipped config should enable exactly the file connector: %+v", en)
	}
	if !strings.HasSuffix(filepath.ToSlash(cfg.MIS.DSN), "/demo/demo.db") {
		t.Errorf("dsn = %q", cfg.MIS.DSN)
	}
}

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{{10 * time.Minute, "10m"}, {24 * time.Hour, "24h"}, {90 * time.Minute, "1h30m"}, {1500 * time.Millisecond, "1.5s"}, {61 * time.Second, "1m1s"}, {0, "0s"}}
	for _, tt := range tests {
		if got := fmtDuration(tt.d); got != tt.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestNotIni(t *testing.T) {
	tests := []struct{ text, want string }{
		{"[mis\ndriver = sqlite\n", "config.ini: cannot be read as an ini file: unclosed section: [mis; each line must be"},
		{"[mis]\ndriver sqlite\n", "config.ini: cannot be read as an ini file: key-value delimiter not found: driver sqlite; each line must be"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestLinkCodesAndRegistrar(t *testing.T) {
	const hash = "$2a$04$Fw8IS0PmlwzJVIm4FT2M7evpiam7/KoFU91uJBeTNnQdRWMW.za8y" // bcrypt of "password1", cost 4
	tests := []struct {
		name string
		text string
		want []string // substrings of the error; none: loads
	}{
		{"off by default", minimal, nil},
		{"typo suggests key", minimal + "[linkcodes]\nlifetme = 1h\n", []string{"[linkcodes] lifetme: unknown key; did you mean \"lifetime\"?"}},
		{"registrar typo", minimal + "[registrar]\nallow_plain_http_on_lann = true\n", []string{"[registrar] allow_plain_http_on_lann: unknown key; did you mean \"allow_plain_http_on_lan\"?"}},
		{"priority", minimal + "[linkcodes]\npriority = phone,sms\n", []string{"[linkcodes] priority: unknown contact type \"sms\""}},
		{"priority twice", minimal + "[linkcodes]\npriority = email, email\n", []string{"[linkcodes] priority: \"email\" is listed twice"}},
		{"enabled without channel", minimal + "[linkcodes]\nenabled = true\n", []string{"[linkcodes] is enabled but can deliver no code"}},
		{"half sms", minimal + "[linkcodes]\nenabled = true\nsms_login = a\nsmtp_host = h\nsmtp_from = a@b.ru\n", []string{"[linkcodes] sms_login, sms_password: set both"}},
		{"template without code", minimal + "[linkcodes]\nmessage_sms = Ваш код\n", []string{"[linkcodes] message_sms: must contain {code}"}},
		{"bad lifetime", minimal + "[linkcodes]\nlifetime = 1m\n", []string{"[linkcodes] lifetime: 1m is too short"}},
		{"security", minimal + "[linkcodes]\nsmtp_security = ssl\n", []string{"[linkcodes] smtp_security: \"ssl\" is not allowed; allowed: starttls, tls"}},
		{"registrar needs linkcodes", minimal + "[registrar]\nenabled = true\nuser.anna = " + hash + "\n", []string{"[registrar] enabled: the registrar page issues link codes"}},
		{"registrar needs users", minimal + "[linkcodes]\nenabled = true\nsms_login = a\nsms_password = b\n[registrar]\nenabled = true\n", []string{"[registrar] is enabled but lists no user"}},
		{"not a hash", minimal + "[registrar]\nuser.anna = secret\n", []string{"[registrar] user.anna: is not a password hash; run `medsync passwd`"}},
		{"half tls", minimal + "[registrar]\ntls_cert = a.crt\n", []string{"[registrar] tls_cert, tls_key: set both"}},
		{"full", minimal + "[linkcodes]\nenabled = true\npriority = email,phone\nsms_login = clinic\nsms_password = sms-pw-1\nsmtp_host = smtp.example.ru\nsmtp_from = a@example.ru\nsmtp_password = smtp-pw-2\nsmtp_security = tls\nmessage_email = Код {code}\\nдо {expires}\n" +
			"[registrar]\nenabled = true\nuser.Anna = " + hash + "\ntls_cert = c.crt\ntls_key = c.key\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(write(t, tc.text))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "full" {
					lc, r := cfg.LinkCodes, cfg.Registrar
					if !lc.Enabled || strings.Join(lc.Priority, ",") != "email,phone" || lc.SMTPPort != 465 || lc.MessageEmail != "Код {code}\nдо {expires}" || lc.Lifetime != 72*time.Hour {
						t.Errorf("linkcodes: %+v", lc)
					}
					if !r.Enabled || r.Users["anna"] != hash || !r.TLS() || !filepath.IsAbs(r.TLSCert) || r.AllowPlainHTTPOnLAN {
						t.Errorf("registrar: %+v", r)
					}
					show := cfg.Show()
					for _, secret := range []string{"sms-pw-1", "smtp-pw-2", hash} {
						if strings.Contains(show, secret) {
							t.Errorf("Show reveals %q", secret)
						}
					}
					sec := Secrets(cfg)
					for _, secret := range []string{"sms-pw-1", "smtp-pw-2", hash} {
						if !slices.Contains(sec, secret) {
							t.Errorf("Secrets lacks %q", secret)
						}
					}
				} else if cfg.LinkCodes.Enabled || cfg.Registrar.Enabled || cfg.LinkCodes.Lifetime != 72*time.Hour || cfg.LinkCodes.SMSURL != DefaultSMSURL {
					t.Errorf("defaults: %+v %+v", cfg.LinkCodes, cfg.Registrar)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
