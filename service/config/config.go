// Package config loads medsync's config.ini (gopkg.in/ini.v1) into a typed, validated
// Config: the [service], [mis], [guard], [dispatch], [linkcodes] and [registrar]
// sections and one
// [connector.NAME] section per connector instance, checked against the connector
// registry. Every error names the file, the section, the key and what is allowed, and
// an unknown key suggests the closest known one; clinic IT reads these messages.
//
// Any value may be (or contain) ${env:NAME}, substituted from the environment at load.
// Relative paths are resolved against the folder of the config file.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Windows servers have no zoneinfo; Europe/Moscow must load anyway

	"github.com/robfig/cron/v3"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/ini.v1"

	"medsync/connectors"
	"medsync/mapping"
)

// Config is the effective configuration after defaults, substitution and validation.
type Config struct {
	File     string         // absolute path of the config file
	Dir      string         // its folder; relative paths are resolved against it
	Location *time.Location // [service] timezone

	Service    Service
	MIS        MIS
	Guard      Guard
	Dispatch   Dispatch
	LinkCodes  LinkCodes
	Registrar  Registrar
	Connectors []ConnectorConfig

	schedule cron.Schedule
}

// Service is the [service] section.
type Service struct {
	Name         string
	DisplayName  string
	Interval     int    // minutes between polls; 0 when Schedule is set
	Schedule     string // cron expression; "" when Interval is used
	StateDir     string // absolute
	Timezone     string // IANA name
	LogDir       string // absolute
	LogLevel     slog.Level
	LogMaxSizeMB int
	LogMaxFiles  int
	StatusListen string // host:port
	// StatusHosts are extra host names the status page answers to (besides IP
	// addresses, localhost and this computer's name), e.g. medsync.clinic.local.
	StatusHosts []string
	// User is the Linux account the systemd unit runs as ("medsync" by default,
	// created by `medsync install`; "root" runs it unconfined by an account).
	// Windows services run as LocalSystem or the account set in services.msc.
	User string
	// ReadWritePaths are extra folders the Linux service may write to besides the
	// state and log folders and the folders connectors declare (absolute).
	ReadWritePaths []string
	// BackupDir is where state store backups go (absolute; default state_dir/backups),
	// BackupEvery how often one is made (0: no scheduled backups; the one before a
	// migration is still made), BackupKeep how many are kept.
	BackupDir   string
	BackupEvery time.Duration
	BackupKeep  int
}

// MIS drivers.
const (
	DriverSQLServer = "sqlserver"
	DriverPostgres  = "postgres"
	DriverMySQL     = "mysql"
	DriverSQLite    = "sqlite"
	DriverFirebird  = "firebird"
)

// Profiles built into medsync; any other [mis] profile value is a folder.
const (
	ProfileDemo  = "demo"
	ProfileViews = "views"
)

// MIS is the [mis] section.
type MIS struct {
	Driver        string // one of the Driver constants
	DSN           string // for sqlite, a relative file path is made absolute
	Profile       string // ProfileDemo, ProfileViews, or an absolute folder path
	DaysBack      int
	DaysAhead     int
	QueryTimeout  time.Duration
	Charset       string // "utf-8" or "cp1251"
	FullReadEvery time.Duration
	// MaxSkippedShare: `medsync once` exits non-zero when more than this share of an
	// entity's rows is skipped (cannot be converted); 1 turns the check off.
	MaxSkippedShare float64
}

// Guard is the [guard] section: deletes are held when more than
// max(MinDeleteCount, MaxDeleteShare × known keys of an entity) vanish in one poll.
type Guard struct {
	MaxDeleteShare float64
	MinDeleteCount int
}

// HoldDeletes reports whether n vanished keys out of known must be held for an operator.
func (g Guard) HoldDeletes(n, known int) bool {
	limit := max(float64(g.MinDeleteCount), g.MaxDeleteShare*float64(known))
	return float64(n) > limit
}

// Dispatch is the [dispatch] section.
type Dispatch struct {
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	MaxAttempts    int // 0: retry transient errors forever
}

// LinkCodes is the [linkcodes] section: 9-digit patient link codes (service/linkcodes).
type LinkCodes struct {
	Enabled         bool
	Lifetime        time.Duration
	Priority        []string // "phone", "email" in the order tried
	Clinic          string   // {clinic} in the messages
	Requests        bool     // issue codes for patients the MIS flags (read.link_requests)
	LimitPatientDay int      // codes per patient per day (all issuers)
	LimitUserDay    int      // codes a registrar may issue per day
	SMSURL          string
	SMSLogin        string
	SMSPassword     string // secret
	SMSSender       string
	SMSTimeout      time.Duration
	SMTPHost        string
	SMTPPort        int
	SMTPSecurity    string // "starttls" or "tls"
	SMTPUser        string
	SMTPPassword    string // secret
	SMTPFrom        string
	SMTPCAFile      string // absolute; "" = the system's roots
	SMTPTimeout     time.Duration
	MessageSMS      string
	MessageEmail    string
	EmailSubject    string
}

// SMSConfigured reports whether SMS delivery has credentials.
func (l LinkCodes) SMSConfigured() bool { return l.SMSLogin != "" && l.SMSPassword != "" }

// EmailConfigured reports whether e-mail delivery has a server and a sender.
func (l LinkCodes) EmailConfigured() bool { return l.SMTPHost != "" && l.SMTPFrom != "" }

// Registrar is the [registrar] section: the registrar web page of the status server.
type Registrar struct {
	Enabled             bool
	Users               map[string]string // user name → bcrypt hash (medsync passwd)
	Admins              map[string]bool   // users with the admin role: they review held deletions
	TLSCert, TLSKey     string            // absolute; both or neither
	AllowPlainHTTPOnLAN bool              // named opt-out: plain HTTP on a non-loopback address
	SessionLifetime     time.Duration
	LoginMaxFailures    int // failures before a lock-out (per user and per client address)
	LockoutInitial      time.Duration
	LockoutMax          time.Duration
}

// TLS reports whether a certificate and key are configured.
func (r Registrar) TLS() bool { return r.TLSCert != "" && r.TLSKey != "" }

// Default link-code messages ({code}, {clinic}, {expires} are replaced).
const (
	DefaultLinkMessageSMS   = "Код для привязки к клинике в ONDOC: {code}. Действует до {expires}."
	DefaultLinkMessageEmail = "Здравствуйте!\n\nКод для привязки к клинике {clinic} в ONDOC: {code}. Действует до {expires}.\nВведите его в личном кабинете ONDOC. Если вы не обращались в клинику, не сообщайте код никому."
	DefaultLinkEmailSubject = "Код для привязки к клинике в ONDOC"
	DefaultSMSURL           = "https://smsc.ru/sys/send.php"
)

// ConnectorConfig is one [connector.NAME] section.
type ConnectorConfig struct {
	Name      string // NAME of [connector.NAME]
	Type      string // registered connector type
	Enabled   bool
	Entities  []string // effective entities: the section's `entities`, or the spec's
	BatchSize int
	Values    *connectors.Values // every option (common and the spec's), defaults filled
	Spec      *connectors.Spec
}

// Interval returns the fixed poll interval, or 0 when a cron schedule is configured.
func (c *Config) Interval() time.Duration {
	return time.Duration(c.Service.Interval) * time.Minute
}

// Schedule returns when polls run: the cron expression evaluated in the service time
// zone, or every Interval.
func (c *Config) Schedule() cron.Schedule { return c.schedule }

// Env returns the connectors.Env to construct cc with.
func (c *Config) Env(cc ConnectorConfig, log *slog.Logger) connectors.Env {
	if log == nil {
		log = slog.Default()
	}
	return connectors.Env{
		Instance:  cc.Name,
		Logger:    log.With("connector", cc.Name),
		StateDir:  c.Service.StateDir,
		BaseDir:   c.Dir,
		Zone:      c.Location,
		DaysAhead: c.MIS.DaysAhead,
	}
}

// Enabled returns the connector sections with enabled = true.
func (c *Config) Enabled() []ConnectorConfig {
	var out []ConnectorConfig
	for _, cc := range c.Connectors {
		if cc.Enabled {
			out = append(out, cc)
		}
	}
	return out
}

type zoned struct {
	s   cron.Schedule
	loc *time.Location
}

func (z zoned) Next(t time.Time) time.Time { return z.s.Next(t.In(z.loc)) }

var validUser = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

var (
	serviceKeys  = []string{"name", "display_name", "interval", "schedule", "state_dir", "timezone", "log_dir", "log_level", "log_max_size_mb", "log_max_files", "status_listen", "status_hosts", "user", "read_write_paths", "backup_dir", "backup_every", "backup_keep"}
	misKeys      = []string{"driver", "dsn", "profile", "days_back", "days_ahead", "query_timeout", "charset", "full_read_every", "max_skipped_share"}
	guardKeys    = []string{"max_delete_share", "min_delete_count"}
	dispatchKeys = []string{"backoff_initial", "backoff_max", "max_attempts"}
	linkKeys     = []string{"enabled", "lifetime", "priority", "clinic", "requests", "limit_per_patient_day", "limit_per_user_day",
		"sms_url", "sms_login", "sms_password", "sms_sender", "sms_timeout",
		"smtp_host", "smtp_port", "smtp_security", "smtp_user", "smtp_password", "smtp_from", "smtp_ca_file", "smtp_timeout",
		"message_sms", "message_email", "email_subject"}
	registrarKeys = []string{"enabled", "admins", "tls_cert", "tls_key", "allow_plain_http_on_lan", "session_lifetime",
		"login_max_failures", "lockout_initial", "lockout_max"}
	sectionNames = []string{"service", "mis", "guard", "dispatch", "linkcodes", "registrar", "connector.NAME"}
	drivers      = []string{DriverSQLServer, DriverPostgres, DriverMySQL, DriverSQLite, DriverFirebird}
	envRef       = regexp.MustCompile(`\$\{env:([^}]*)\}`)
	instanceName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// loader collects every problem so that clinic IT can fix them in one go.
type loader struct {
	file string
	errs []error
}

func (l *loader) errf(section, key, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	switch {
	case section == "":
		l.errs = append(l.errs, fmt.Errorf("%s: %s", l.file, msg))
	case key == "":
		l.errs = append(l.errs, fmt.Errorf("%s: [%s] %s", l.file, section, msg))
	default:
		l.errs = append(l.errs, fmt.Errorf("%s: [%s] %s: %s", l.file, section, key, msg))
	}
}

// section is one ini section's keys after substitution; empty values count as unset.
type section struct {
	l    *loader
	name string
	vals map[string]string
}

// readSection reads sec, reporting unknown and repeated keys. Keys matching known
// names case-insensitively are stored under the known name; keys matching a pattern
// (path.Match, case-insensitive) are stored as written.
func (l *loader) readSection(name string, sec *ini.Section, known, patterns []string) *section {
	s := &section{l: l, name: name, vals: map[string]string{}}
	if sec == nil {
		return s
	}
	for _, k := range sec.Keys() {
		key := k.Name()
		if vs := k.ValueWithShadows(); len(vs) > 1 {
			l.errf(name, key, "is set %d times; keep only one line", len(vs))
		}
		norm, ok := "", false
		for _, kn := range known {
			if strings.EqualFold(kn, key) {
				norm, ok = kn, true
				break
			}
		}
		if !ok {
			for _, p := range patterns {
				if m, _ := path.Match(strings.ToLower(p), strings.ToLower(key)); m {
					norm, ok = key, true
					break
				}
			}
		}
		if !ok {
			l.errf(name, key, "%s", unknownMsg("key", key, append(append([]string{}, known...), patterns...)))
			continue
		}
		v, err := substitute(strings.TrimSpace(k.Value()))
		if err != nil {
			l.errf(name, key, "%v", err)
			continue
		}
		if v != "" {
			s.vals[norm] = v
		}
	}
	return s
}

// substitute replaces every ${env:NAME} in v.
func substitute(v string) (string, error) {
	var err error
	out := envRef.ReplaceAllStringFunc(v, func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		if name == "" {
			err = errors.New("${env:} names no environment variable; write ${env:NAME}")
			return ""
		}
		val, ok := os.LookupEnv(name)
		if !ok && err == nil {
			err = fmt.Errorf("environment variable %s is not set (the value is ${env:%s}); set it for the service account or write the value here", name, name)
		}
		return val
	})
	if err == nil && strings.Contains(out, "${env:") {
		err = errors.New("${env: is not closed; write ${env:NAME}")
	}
	return out, err
}

func (s *section) has(key string) bool { _, ok := s.vals[key]; return ok }

func (s *section) str(key, def string) string {
	if v, ok := s.vals[key]; ok {
		return v
	}
	return def
}

func (s *section) required(key, hint string) string {
	v, ok := s.vals[key]
	if !ok {
		s.l.errf(s.name, key, "is required; %s", hint)
	}
	return v
}

func (s *section) intRange(key string, def, lo, hi int) int {
	v, ok := s.vals[key]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		s.l.errf(s.name, key, "%q is not a whole number; allowed: %d..%d", v, lo, hi)
		return def
	}
	if n < lo || n > hi {
		s.l.errf(s.name, key, "%d is out of range; allowed: %d..%d", n, lo, hi)
		return def
	}
	return n
}

func (s *section) floatRange(key string, def, lo, hi float64) float64 {
	v, ok := s.vals[key]
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
	if err != nil {
		s.l.errf(s.name, key, "%q is not a number; allowed: %g..%g, e.g. 0.2", v, lo, hi)
		return def
	}
	if f < lo || f > hi {
		s.l.errf(s.name, key, "%g is out of range; allowed: %g..%g", f, lo, hi)
		return def
	}
	return f
}

// duration parses a Go duration ("30s", "10m", "1h30m") or a bare number of seconds.
func (s *section) duration(key, def string, lo time.Duration) time.Duration {
	v := s.str(key, def)
	d, err := parseDuration(v)
	if err != nil {
		s.l.errf(s.name, key, "%q is not a duration; write e.g. 30s, 10m or 1h30m", v)
		d, _ = parseDuration(def)
		return d
	}
	if d < lo {
		s.l.errf(s.name, key, "%s is too short; allowed: at least %s", v, lo)
		d, _ = parseDuration(def)
	}
	return d
}

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

func (s *section) oneOf(key, def string, allowed ...string) string {
	v := strings.ToLower(s.str(key, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	s.l.errf(s.name, key, "%q is not allowed; allowed: %s", s.vals[key], strings.Join(allowed, ", "))
	return def
}

func (s *section) path(key, def, dir string) string {
	v := s.str(key, def)
	if !filepath.IsAbs(v) {
		v = filepath.Join(dir, filepath.FromSlash(v))
	}
	return filepath.Clean(v)
}

// Load reads, substitutes and validates the config file at path. The error lists every
// problem found, one per line.
func Load(file string) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		AllowShadows:             true,
		SpaceBeforeInlineComment: true, // "pass#word" stays a value; " # note" is a comment
	}, abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: config file not found; copy the sample config.ini next to medsync and edit it", abs)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%s: cannot be read (%v); give the account medsync runs as read access to it", abs, err)
		}
		return nil, fmt.Errorf("%s: cannot be read as an ini file: %s; each line must be a [section], a key = value, or a comment starting with ;", abs, strings.TrimSpace(err.Error()))
	}
	l := &loader{file: abs}
	cfg := &Config{File: abs, Dir: filepath.Dir(abs)}

	secs := map[string]*ini.Section{}
	var connSecs []*ini.Section
	for _, sec := range f.Sections() {
		name := sec.Name()
		lower := strings.ToLower(name)
		switch {
		case name == ini.DefaultSection:
			for _, k := range sec.Keys() {
				l.errf("", "", "key %q is outside any section; put it under [service], [mis], [guard], [dispatch], [linkcodes], [registrar] or [connector.NAME]", k.Name())
			}
		case lower == "service" || lower == "mis" || lower == "guard" || lower == "dispatch" || lower == "linkcodes" || lower == "registrar":
			if secs[lower] != nil {
				l.errf(name, "", "section appears twice (differing only in letter case); keep one")
			}
			secs[lower] = sec
		case strings.HasPrefix(lower, "connector."):
			connSecs = append(connSecs, sec)
		default:
			if pre, rest, ok := strings.Cut(name, "."); ok && distance(strings.ToLower(pre), "connector") <= 2 {
				l.errf(name, "", "unknown section; did you mean %q?", "connector."+rest)
				continue
			}
			l.errf(name, "", "%s", unknownMsg("section", name, sectionNames))
		}
	}

	cfg.loadService(l, secs["service"])
	cfg.loadMIS(l, secs["mis"])
	cfg.loadGuard(l, secs["guard"])
	cfg.loadDispatch(l, secs["dispatch"])
	cfg.loadLinkCodes(l, secs["linkcodes"])
	cfg.loadRegistrar(l, secs["registrar"])
	cfg.loadConnectors(l, connSecs)
	cfg.checkSecrets(l)

	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return cfg, nil
}

func (cfg *Config) loadService(l *loader, sec *ini.Section) {
	s := l.readSection("service", sec, serviceKeys, nil)
	sv := &cfg.Service
	sv.Name = s.str("name", "medsync")
	sv.DisplayName = s.str("display_name", "medsync — интеграция МИС")
	sv.Timezone = s.str("timezone", "Europe/Moscow")
	loc, err := time.LoadLocation(sv.Timezone)
	if err != nil || strings.EqualFold(sv.Timezone, "local") {
		l.errf("service", "timezone", "%q is not a known time zone; write an IANA name such as Europe/Moscow, Asia/Yekaterinburg or Asia/Novosibirsk", sv.Timezone)
		loc = time.UTC
	}
	cfg.Location = loc

	switch {
	case s.has("interval") && s.has("schedule"):
		l.errf("service", "interval, schedule", "both are set; keep one: interval (minutes) or schedule (cron expression)")
	case s.has("schedule"):
		sv.Schedule = s.vals["schedule"]
		sched, err := cron.ParseStandard(sv.Schedule)
		if err != nil {
			l.errf("service", "schedule", "%q is not a cron expression (%v); write 5 fields \"minute hour day month weekday\" such as \"*/5 7-21 * * *\", or @every 2m, @hourly", sv.Schedule, err)
		} else {
			cfg.schedule = zoned{s: sched, loc: loc}
		}
	default:
		sv.Interval = s.intRange("interval", 5, 1, 24*60)
		cfg.schedule = cron.Every(time.Duration(sv.Interval) * time.Minute)
	}

	sv.StateDir = s.path("state_dir", "state", cfg.Dir)
	sv.LogDir = s.path("log_dir", "logs", cfg.Dir)
	sv.BackupDir = s.path("backup_dir", filepath.Join(sv.StateDir, "backups"), cfg.Dir)
	sv.BackupEvery = s.duration("backup_every", "24h", 0)
	if sv.BackupEvery > 0 && sv.BackupEvery < time.Hour {
		l.errf("service", "backup_every", "%s is too short; allowed: 0 (no scheduled backups) or at least 1h", fmtDuration(sv.BackupEvery))
		sv.BackupEvery = 24 * time.Hour
	}
	sv.BackupKeep = s.intRange("backup_keep", 7, 1, 1000)
	switch lvl := s.oneOf("log_level", "info", "debug", "info", "warn", "error"); lvl {
	case "debug":
		sv.LogLevel = slog.LevelDebug
	case "warn":
		sv.LogLevel = slog.LevelWarn
	case "error":
		sv.LogLevel = slog.LevelError
	default:
		sv.LogLevel = slog.LevelInfo
	}
	sv.LogMaxSizeMB = s.intRange("log_max_size_mb", 10, 1, 10240)
	sv.LogMaxFiles = s.intRange("log_max_files", 10, 1, 1000)
	sv.User = s.str("user", "medsync")
	if !validUser.MatchString(sv.User) {
		l.errf("service", "user", "%q is not a Linux account name; use lower-case letters, digits, '-' and '_' (default medsync)", sv.User)
	}
	for _, p := range strings.Split(s.str("read_write_paths", ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !filepath.IsAbs(p) {
				p = filepath.Join(cfg.Dir, filepath.FromSlash(p))
			}
			sv.ReadWritePaths = append(sv.ReadWritePaths, filepath.Clean(p))
		}
	}
	for _, h := range strings.Split(s.str("status_hosts", ""), ",") {
		if h = strings.TrimSpace(h); h != "" {
			sv.StatusHosts = append(sv.StatusHosts, h)
		}
	}
	sv.StatusListen = s.str("status_listen", "127.0.0.1:8470")
	if _, port, err := net.SplitHostPort(sv.StatusListen); err != nil {
		l.errf("service", "status_listen", "%q is not host:port; write e.g. 127.0.0.1:8470 (or :8470 to listen on every address)", sv.StatusListen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		l.errf("service", "status_listen", "%q has no valid port; allowed: 0..65535", sv.StatusListen)
	}
}

func (cfg *Config) loadMIS(l *loader, sec *ini.Section) {
	if sec == nil {
		l.errf("mis", "", "section is missing; add [mis] with driver and dsn (see the sample config.ini)")
		return
	}
	s := l.readSection("mis", sec, misKeys, nil)
	m := &cfg.MIS
	if s.has("driver") {
		// Every spelling mapping.Dialect knows (postgresql, pgx, mariadb, mssql,
		// firebirdsql…) is stored as its dialect name, the one the rest of medsync uses.
		if d, err := mapping.Dialect(s.vals["driver"]); err == nil {
			m.Driver = d
		} else {
			m.Driver = s.oneOf("driver", "", drivers...)
		}
	} else {
		l.errf("mis", "driver", "is required; allowed: %s", strings.Join(drivers, ", "))
	}
	m.DSN = s.required("dsn", "write how to connect to the MIS database (see the examples in the sample config.ini)")
	if m.Driver == DriverSQLite && m.DSN != "" {
		m.DSN = sqlitePath(m.DSN, cfg.Dir)
	}
	m.Profile = s.str("profile", ProfileDemo)
	if m.Profile != ProfileDemo && m.Profile != ProfileViews {
		p := m.Profile
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, filepath.FromSlash(p))
		}
		p = filepath.Clean(p)
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			l.errf("mis", "profile", "%q is neither a built-in profile (demo, views) nor a folder (looked for %s)", m.Profile, p)
		}
		m.Profile = p
	}
	m.DaysBack = s.intRange("days_back", 1, 0, 365)
	m.DaysAhead = s.intRange("days_ahead", 14, 1, 365)
	m.QueryTimeout = s.duration("query_timeout", "60s", time.Second)
	switch cs := strings.ToLower(s.str("charset", "utf-8")); cs {
	case "utf-8", "utf8":
		m.Charset = "utf-8"
	case "cp1251", "windows-1251":
		m.Charset = "cp1251"
	default:
		l.errf("mis", "charset", "%q is not allowed; allowed: utf-8, cp1251", s.vals["charset"])
	}
	m.FullReadEvery = s.duration("full_read_every", "24h", time.Minute)
	m.MaxSkippedShare = s.floatRange("max_skipped_share", 0.1, 0, 1)
}

// sqlitePath makes a relative SQLite file path (optionally file:… and ?params) absolute.
func sqlitePath(dsn, dir string) string {
	prefix, rest := "", dsn
	if r, ok := strings.CutPrefix(dsn, "file:"); ok {
		prefix, rest = "file:", r
	}
	p, q := rest, ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		p, q = rest[:i], rest[i:]
	}
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "/") || filepath.IsAbs(p) {
		return dsn
	}
	abs := filepath.Join(dir, filepath.FromSlash(p))
	if prefix != "" {
		abs = filepath.ToSlash(abs)
	}
	return prefix + abs + q
}

func (cfg *Config) loadGuard(l *loader, sec *ini.Section) {
	s := l.readSection("guard", sec, guardKeys, nil)
	cfg.Guard.MaxDeleteShare = s.floatRange("max_delete_share", 0.2, 0, 1)
	cfg.Guard.MinDeleteCount = s.intRange("min_delete_count", 20, 0, 1_000_000)
}

func (cfg *Config) loadDispatch(l *loader, sec *ini.Section) {
	s := l.readSection("dispatch", sec, dispatchKeys, nil)
	d := &cfg.Dispatch
	d.BackoffInitial = s.duration("backoff_initial", "5s", 100*time.Millisecond)
	d.BackoffMax = s.duration("backoff_max", "10m", 100*time.Millisecond)
	if d.BackoffMax < d.BackoffInitial {
		l.errf("dispatch", "backoff_max", "%s is shorter than backoff_initial %s; allowed: at least backoff_initial", d.BackoffMax, d.BackoffInitial)
	}
	d.MaxAttempts = s.intRange("max_attempts", 0, 0, 1_000_000)
}

func (cfg *Config) loadConnectors(l *loader, secs []*ini.Section) {
	seen := map[string]string{}
	for _, sec := range secs {
		secName := sec.Name()
		name := secName[len("connector."):]
		if !instanceName.MatchString(name) {
			l.errf(secName, "", "connector name %q may hold only Latin letters, digits, '_' and '-'; write e.g. [connector.file]", name)
			continue
		}
		if prev, dup := seen[strings.ToLower(name)]; dup {
			l.errf(secName, "", "same connector name as [%s] (letter case does not count); rename one", prev)
			continue
		}
		seen[strings.ToLower(name)] = secName

		typ := strings.ToLower(name)
		if k, err := sec.GetKey("type"); err == nil {
			if v, err := substitute(strings.TrimSpace(k.Value())); err == nil && v != "" {
				typ = strings.ToLower(v)
			}
		}
		spec := connectors.Lookup(typ)
		if spec == nil {
			registered := connectors.Names()
			msg := fmt.Sprintf("unknown connector type %q; registered types: %s", typ, strings.Join(registered, ", "))
			if c := closest(typ, registered); c != "" {
				msg = fmt.Sprintf("unknown connector type %q; did you mean %q? registered types: %s", typ, c, strings.Join(registered, ", "))
			}
			l.errf(secName, "type", "%s", msg)
			continue
		}

		var known, patterns []string
		opts := append(append([]connectors.Option{}, connectors.CommonOptions...), spec.Options...)
		for _, o := range opts {
			if o.Pattern {
				patterns = append(patterns, o.Name)
			} else {
				known = append(known, o.Name)
			}
		}
		s := l.readSection(secName, sec, known, patterns)
		vals := map[string]string{}
		for k, v := range s.vals {
			vals[k] = v
		}
		// A switched-off section may stay incomplete: its required keys are not asked for.
		off, _ := connectors.NewValues(cfg.File, secName, vals).Bool("enabled")
		disabled := s.has("enabled") && !off
		for _, o := range opts {
			if o.Pattern {
				continue
			}
			if _, ok := vals[o.Name]; ok {
				continue
			}
			if o.Required && !disabled {
				help := ""
				if o.Help != "" {
					help = " (" + o.Help + ")"
				}
				l.errf(secName, o.Name, "is required for connector type %s%s", spec.Name, help)
				continue
			}
			if o.Default != "" {
				vals[o.Name] = o.Default
			}
		}
		vals["type"] = spec.Name
		values := connectors.NewValues(cfg.File, secName, vals)

		cc := ConnectorConfig{Name: name, Type: spec.Name, Values: values, Spec: spec}
		var err error
		if cc.Enabled, err = values.Bool("enabled"); err != nil {
			l.errs = append(l.errs, err)
		}
		if cc.BatchSize, err = values.Int("batch_size", 1, 10000); err != nil {
			l.errs = append(l.errs, err)
		}
		cc.Entities = spec.Entities
		if list := values.List("entities"); len(list) > 0 {
			cc.Entities = nil
			for _, e := range list {
				e = strings.ToLower(e)
				switch {
				case !contains(mapping.Entities, e):
					l.errf(secName, "entities", "%s", unknownMsg(fmt.Sprintf("entity %q", e), e, mapping.Entities))
				case !contains(spec.Entities, e):
					l.errf(secName, "entities", "connector type %s does not take entity %q; it takes: %s", spec.Name, e, strings.Join(spec.Entities, ", "))
				case !contains(cc.Entities, e):
					cc.Entities = append(cc.Entities, e)
				}
			}
		}
		cfg.Connectors = append(cfg.Connectors, cc)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *section) boolean(key string, def bool) bool {
	v, ok := s.vals[key]
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true
	case "false", "no", "0", "off":
		return false
	}
	s.l.errf(s.name, key, "%q is not true or false", v)
	return def
}

// message reads a message template: "\n" stands for a line break; {code} is required.
func (s *section) message(key, def string) string {
	v := strings.ReplaceAll(s.str(key, def), `\n`, "\n")
	if !strings.Contains(v, "{code}") {
		s.l.errf(s.name, key, "must contain {code} (where the code goes); {clinic} and {expires} are optional")
	}
	return v
}

func (cfg *Config) loadLinkCodes(l *loader, sec *ini.Section) {
	s := l.readSection("linkcodes", sec, linkKeys, nil)
	lc := &cfg.LinkCodes
	lc.Enabled = s.boolean("enabled", false)
	lc.Lifetime = s.duration("lifetime", "72h", 10*time.Minute)
	if lc.Lifetime > 30*24*time.Hour {
		l.errf("linkcodes", "lifetime", "%s is too long; allowed: 10m..720h", fmtDuration(lc.Lifetime))
	}
	lc.Priority = nil
	for _, p := range strings.Split(s.str("priority", "phone,email"), ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "":
		case p != "phone" && p != "email":
			l.errf("linkcodes", "priority", "%s", unknownMsg(fmt.Sprintf("contact type %q (allowed: phone, email)", p), p, []string{"phone", "email"}))
		case contains(lc.Priority, p):
			l.errf("linkcodes", "priority", "%q is listed twice; write phone,email or email,phone", p)
		default:
			lc.Priority = append(lc.Priority, p)
		}
	}
	if len(lc.Priority) == 0 {
		lc.Priority = []string{"phone", "email"}
	}
	lc.Clinic = s.str("clinic", "")
	lc.Requests = s.boolean("requests", true)
	lc.LimitPatientDay = s.intRange("limit_per_patient_day", 5, 1, 1000)
	lc.LimitUserDay = s.intRange("limit_per_user_day", 100, 1, 100000)
	lc.SMSURL = s.str("sms_url", DefaultSMSURL)
	if !strings.HasPrefix(lc.SMSURL, "https://") && !strings.HasPrefix(lc.SMSURL, "http://") {
		l.errf("linkcodes", "sms_url", "%q is not an http(s) URL; write %s", lc.SMSURL, DefaultSMSURL)
	}
	lc.SMSLogin = s.str("sms_login", "")
	lc.SMSPassword = s.str("sms_password", "")
	lc.SMSSender = s.str("sms_sender", "")
	lc.SMSTimeout = s.duration("sms_timeout", "20s", time.Second)
	lc.SMTPHost = s.str("smtp_host", "")
	lc.SMTPSecurity = s.oneOf("smtp_security", "starttls", "starttls", "tls")
	defPort := 587
	if lc.SMTPSecurity == "tls" {
		defPort = 465
	}
	lc.SMTPPort = s.intRange("smtp_port", defPort, 1, 65535)
	lc.SMTPUser = s.str("smtp_user", "")
	lc.SMTPPassword = s.str("smtp_password", "")
	lc.SMTPFrom = s.str("smtp_from", "")
	if s.has("smtp_ca_file") {
		lc.SMTPCAFile = s.path("smtp_ca_file", "", cfg.Dir)
	}
	lc.SMTPTimeout = s.duration("smtp_timeout", "30s", time.Second)
	lc.MessageSMS = s.message("message_sms", DefaultLinkMessageSMS)
	lc.MessageEmail = s.message("message_email", DefaultLinkMessageEmail)
	lc.EmailSubject = s.str("email_subject", DefaultLinkEmailSubject)
	if !lc.Enabled {
		return
	}
	if (lc.SMSLogin == "") != (lc.SMSPassword == "") {
		l.errf("linkcodes", "sms_login, sms_password", "set both (the SMSЦентр account login and password) or neither")
	}
	if (lc.SMTPHost == "") != (lc.SMTPFrom == "") {
		l.errf("linkcodes", "smtp_host, smtp_from", "set both (the mail server and the sender address) or neither")
	}
	if !lc.SMSConfigured() && !lc.EmailConfigured() {
		l.errf("linkcodes", "", "is enabled but can deliver no code: set sms_login and sms_password (SMSЦентр) or smtp_host and smtp_from (e-mail), or set enabled = false")
	}
}

func (cfg *Config) loadRegistrar(l *loader, sec *ini.Section) {
	s := l.readSection("registrar", sec, registrarKeys, []string{"user.*"})
	r := &cfg.Registrar
	r.Enabled = s.boolean("enabled", false)
	r.Users = map[string]string{}
	for k, v := range s.vals {
		name, ok := strings.CutPrefix(strings.ToLower(k), "user.")
		if !ok {
			continue
		}
		if name == "" || !instanceName.MatchString(name) {
			l.errf("registrar", k, "user name %q may hold only Latin letters, digits, '_' and '-'", name)
			continue
		}
		if _, err := bcrypt.Cost([]byte(v)); err != nil {
			l.errf("registrar", k, "is not a password hash; run `medsync passwd` and paste the line it prints")
			continue
		}
		r.Users[name] = v
	}
	r.Admins = map[string]bool{}
	for _, a := range strings.Split(s.str("admins", ""), ",") {
		if a = strings.ToLower(strings.TrimSpace(a)); a == "" {
			continue
		}
		if _, ok := r.Users[a]; !ok {
			l.errf("registrar", "admins", "%q is not a user of this section; add user.%s = <hash> (medsync passwd %s) or remove the name", a, a, a)
			continue
		}
		r.Admins[a] = true
	}
	if s.has("tls_cert") {
		r.TLSCert = s.path("tls_cert", "", cfg.Dir)
	}
	if s.has("tls_key") {
		r.TLSKey = s.path("tls_key", "", cfg.Dir)
	}
	if (r.TLSCert == "") != (r.TLSKey == "") {
		l.errf("registrar", "tls_cert, tls_key", "set both (the certificate and its private key, PEM files) or neither")
	}
	r.AllowPlainHTTPOnLAN = s.boolean("allow_plain_http_on_lan", false)
	r.SessionLifetime = s.duration("session_lifetime", "8h", 5*time.Minute)
	r.LoginMaxFailures = s.intRange("login_max_failures", 5, 1, 100)
	r.LockoutInitial = s.duration("lockout_initial", "1m", time.Second)
	r.LockoutMax = s.duration("lockout_max", "1h", time.Second)
	if r.LockoutMax < r.LockoutInitial {
		l.errf("registrar", "lockout_max", "%s is shorter than lockout_initial %s", fmtDuration(r.LockoutMax), fmtDuration(r.LockoutInitial))
	}
	if !r.Enabled {
		return
	}
	if !cfg.LinkCodes.Enabled {
		l.errf("registrar", "enabled", "the registrar page issues link codes: enable [linkcodes] too, or set enabled = false here")
	}
	if len(r.Users) == 0 {
		l.errf("registrar", "", "is enabled but lists no user; add user.NAME = <hash> lines (run `medsync passwd` for each)")
	}
}
