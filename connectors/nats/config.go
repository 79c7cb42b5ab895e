package nats

import (
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors"
)

// options is the connector's registry entry: every key a [connector.nats] section takes.
var options = []connectors.Option{
	{Name: "urls", Default: "nats://127.0.0.1:4222", Help: "comma-separated server URLs of the NATS cluster (nats:// or tls://)"},
	{Name: "clinic", Required: true, Help: "this clinic's id in subjects: one token, no dots, spaces or wildcards"},
	{Name: "subject_prefix", Default: "medsync", Help: "first token(s) of every subject: <prefix>.<clinic>.<entity>.<op>"},
	{Name: "stream", Default: "MEDSYNC", Help: "JetStream stream that stores the events"},
	{Name: "stream_subjects", Help: "subjects of the stream when medsync creates it; default <subject_prefix>.>"},
	{Name: "create_stream", Default: "false", Help: "true: create the stream (or add this clinic's subjects to it) at start; false: only check it"},
	{Name: "retention", Default: "limits", Help: "stream retention: limits, interest or workqueue"},
	{Name: "duplicate_window", Default: "24h", Help: "how long the stream remembers message ids to drop resends"},
	{Name: "replicas", Default: "1", Help: "stream replicas (1, 3 or 5 in a cluster)"},
	{Name: "max_age", Default: "0", Help: "how long the stream keeps messages; 0 keeps them until removed"},
	{Name: "timeout", Default: "10s", Help: "connect timeout and how long to wait for the stream's acknowledgement"},
	{Name: "max_pending", Default: "256", Help: "publishes awaiting acknowledgement at once"},
	{Name: "user", Help: "user name (with password)"},
	{Name: "password", Secret: true, Help: "password of user"},
	{Name: "token", Secret: true, Help: "authentication token"},
	{Name: "nkey_seed", Help: "file holding an NKey user seed (SU…); relative to the folder of config.ini"},
	{Name: "creds", Help: "a .creds file (user JWT and NKey seed); relative to the folder of config.ini"},
	{Name: "tls_ca", Help: "PEM file of the CA that signed the servers' certificates"},
	{Name: "tls_cert", Help: "PEM client certificate, for servers that verify clients"},
	{Name: "tls_key", Help: "PEM private key of tls_cert"},
}

// settings is a parsed, validated config section.
type settings struct {
	urls       []string
	clinic     string
	prefix     string
	stream     jetstream.StreamConfig
	create     bool
	timeout    time.Duration
	maxPending int

	user, password, token string
	nkeySeed, creds       string
	tlsCA, tlsCert        string
	tlsKey                string
}

// parse reads and checks a config section; every error names the file, section and key.
func parse(env connectors.Env, cfg *connectors.Values) (*settings, error) {
	s := &settings{}
	var err error
	if s.urls, err = parseURLs(cfg); err != nil {
		return nil, err
	}
	if s.clinic, err = cfg.Required("clinic"); err != nil {
		return nil, err
	}
	if err := checkToken(s.clinic); err != nil {
		return nil, cfg.Error("clinic", "%q %v", s.clinic, err)
	}
	if s.prefix, err = cfg.Required("subject_prefix"); err != nil {
		return nil, err
	}
	for _, tok := range strings.Split(s.prefix, ".") {
		if err := checkToken(tok); err != nil {
			return nil, cfg.Error("subject_prefix", "%q: token %q %v (dots may only separate tokens)", s.prefix, tok, err)
		}
	}
	if s.stream, err = parseStream(cfg, s.prefix); err != nil {
		return nil, err
	}
	if s.create, err = cfg.Bool("create_stream"); err != nil {
		return nil, err
	}
	if s.timeout, err = cfg.Duration("timeout"); err != nil {
		return nil, err
	}
	if s.timeout <= 0 {
		return nil, cfg.Error("timeout", "must be longer than 0")
	}
	if s.maxPending, err = cfg.Int("max_pending", 1, 100000); err != nil {
		return nil, err
	}
	if err := parseAuth(env, cfg, s); err != nil {
		return nil, err
	}
	if !covers(s.stream.Subjects, s.wildcard()) && s.create {
		return nil, cfg.Error("stream_subjects", "%q do not take this clinic's subjects %s", strings.Join(s.stream.Subjects, ","), s.wildcard())
	}
	return s, nil
}

func parseURLs(cfg *connectors.Values) ([]string, error) {
	urls := cfg.List("urls")
	if len(urls) == 0 {
		return nil, cfg.Error("urls", "is required but empty (e.g. nats://10.0.0.5:4222)")
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" {
			return nil, cfg.Error("urls", "%q is not a server URL such as nats://host:4222", u)
		}
		switch p.Scheme {
		case "nats", "tls":
		default:
			return nil, cfg.Error("urls", "%q: scheme %q is not nats or tls", u, p.Scheme)
		}
	}
	return urls, nil
}

func parseStream(cfg *connectors.Values, prefix string) (jetstream.StreamConfig, error) {
	sc := jetstream.StreamConfig{Storage: jetstream.FileStorage}
	var err error
	if sc.Name, err = cfg.Required("stream"); err != nil {
		return sc, err
	}
	if strings.ContainsAny(sc.Name, ".*> \t\r\n/\\") {
		return sc, cfg.Error("stream", "%q: a stream name has no dots, spaces, slashes or wildcards", sc.Name)
	}
	sc.Subjects = cfg.List("stream_subjects")
	if len(sc.Subjects) == 0 {
		sc.Subjects = []string{prefix + ".>"}
	}
	for _, subj := range sc.Subjects {
		if !validFilter(subj) {
			return sc, cfg.Error("stream_subjects", "%q is not a subject filter such as medsync.>", subj)
		}
	}
	switch r := cfg.String("retention"); r {
	case "limits":
		sc.Retention = jetstream.LimitsPolicy
	case "interest":
		sc.Retention = jetstream.InterestPolicy
	case "workqueue":
		sc.Retention = jetstream.WorkQueuePolicy
	default:
		return sc, cfg.Error("retention", "%q is not limits, interest or workqueue", r)
	}
	if sc.Duplicates, err = cfg.Duration("duplicate_window"); err != nil {
		return sc, err
	}
	if sc.Duplicates < time.Second {
		return sc, cfg.Error("duplicate_window", "%s is too short: resends after a crash or an outage must fall inside it (use hours, e.g. 24h)", sc.Duplicates)
	}
	if sc.Replicas, err = cfg.Int("replicas", 1, 5); err != nil {
		return sc, err
	}
	if sc.MaxAge, err = cfg.Duration("max_age"); err != nil {
		return sc, err
	}
	if sc.MaxAge > 0 && sc.Duplicates > sc.MaxAge {
		return sc, cfg.Error("duplicate_window", "%s is longer than max_age %s", sc.Duplicates, sc.MaxAge)
	}
	return sc, nil
}

func parseAuth(env connectors.Env, cfg *connectors.Values, s *settings) error {
	path := func(key string) string {
		p := cfg.String(key)
		if p == "" {
			return ""
		}
		p = filepath.FromSlash(p)
		if !filepath.IsAbs(p) {
			p = filepath.Join(env.BaseDir, p)
		}
		return filepath.Clean(p)
	}
	s.user, s.password, s.token = cfg.String("user"), cfg.String("password"), cfg.String("token")
	s.nkeySeed, s.creds = path("nkey_seed"), path("creds")
	s.tlsCA, s.tlsCert, s.tlsKey = path("tls_ca"), path("tls_cert"), path("tls_key")
	var set []string
	for _, k := range []string{"user", "token", "nkey_seed", "creds"} {
		if cfg.String(k) != "" {
			set = append(set, k)
		}
	}
	if len(set) > 1 {
		return cfg.Error(set[1], "is set together with %s: choose one way to authenticate", set[0])
	}
	if (s.user == "") != (s.password == "") {
		return cfg.Error("password", "user and password go together: set both or neither")
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return cfg.Error("tls_key", "tls_cert and tls_key go together: set both or neither")
	}
	return nil
}

// natsOptions builds the client options: reconnect forever, never buffer while
// disconnected (a publish then fails at once and is retried by the dispatcher).
func (s *settings) natsOptions(onErr natsgo.ErrHandler) []natsgo.Option {
	opts := []natsgo.Option{
		natsgo.Name("medsync " + s.clinic),
		natsgo.Timeout(s.timeout),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(time.Second),
		natsgo.ReconnectBufSize(-1),
		natsgo.ErrorHandler(onErr),
	}
	switch {
	case s.user != "":
		opts = append(opts, natsgo.UserInfo(s.user, s.password))
	case s.token != "":
		opts = append(opts, natsgo.Token(s.token))
	case s.nkeySeed != "":
		if o, err := natsgo.NkeyOptionFromSeed(s.nkeySeed); err == nil {
			opts = append(opts, o)
		} else {
			opts = append(opts, failOption(fmt.Errorf("nkey_seed %s: %w", s.nkeySeed, err)))
		}
	case s.creds != "":
		opts = append(opts, natsgo.UserCredentials(s.creds))
	}
	if s.tlsCA != "" {
		opts = append(opts, natsgo.RootCAs(s.tlsCA))
	}
	if s.tlsCert != "" {
		opts = append(opts, natsgo.ClientCert(s.tlsCert, s.tlsKey))
	}
	return opts
}

// failOption makes Connect fail with err (a seed file that cannot be read).
func failOption(err error) natsgo.Option {
	return func(*natsgo.Options) error { return err }
}

// wildcard is the filter of every subject this clinic publishes to.
func (s *settings) wildcard() string { return s.prefix + "." + s.clinic + ".*.*" }

// subject is where an event of entity and op goes.
func (s *settings) subject(entity, op string) string {
	return s.prefix + "." + s.clinic + "." + entity + "." + op
}

// checkToken reports why tok cannot be one subject token, or nil.
func checkToken(tok string) error {
	if tok == "" {
		return fmt.Errorf("is empty")
	}
	for _, r := range tok {
		switch {
		case r == '.':
			return fmt.Errorf("has a dot (a subject token cannot)")
		case r == '*' || r == '>':
			return fmt.Errorf("has the wildcard %q", r)
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("has a space or control character")
		}
	}
	return nil
}

func validFilter(f string) bool {
	toks := strings.Split(f, ".")
	for i, t := range toks {
		if t == ">" && i == len(toks)-1 || t == "*" {
			continue
		}
		if checkToken(t) != nil {
			return false
		}
	}
	return true
}

// covers reports whether one of the filters matches every subject of pattern (whose
// tokens may be "*").
func covers(filters []string, pattern string) bool {
	p := strings.Split(pattern, ".")
	for _, f := range filters {
		if filterCovers(strings.Split(f, "."), p) {
			return true
		}
	}
	return false
}

func filterCovers(f, p []string) bool {
	for i, t := range f {
		if t == ">" {
			return i < len(p)
		}
		if i >= len(p) || (t != "*" && t != p[i]) {
			return false
		}
	}
	return len(f) == len(p)
}

// noSequence is an expected last sequence no stream reaches: a probe carrying it is
// refused by the stream (proving the subject is taken and may be published to) and
// never stored.
const noSequence = uint64(math.MaxUint64)
