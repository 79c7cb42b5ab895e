package fer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

var options = []connectors.Option{
	{Name: "listen", Default: ":8443", Help: "address the SOAP service listens on, host:port (\":8443\" = every interface)"},
	{Name: "path", Default: "/fer/soap", Help: "URL path of the SOAP endpoint; the WSDL is at <path>?wsdl"},
	{Name: "public_url", Help: "the endpoint URL as the regional operator reaches it (written into the WSDL); empty: taken from each request"},
	{Name: "tls_cert", Help: "server certificate (PEM file) for HTTPS; relative to the folder of config.ini"},
	{Name: "tls_key", Help: "private key of tls_cert (PEM file)"},
	{Name: "client_ca", Help: "CA certificates (PEM) the caller's client certificate must chain to: mutual TLS (needs tls_cert)"},
	{Name: "allow", Help: "addresses or networks allowed to call, comma-separated (10.0.0.0/8, 192.0.2.7); required without client_ca"},
	{Name: "trusted_proxies", Help: "addresses or networks of reverse proxies in front of the service (nginx, a TLS gateway): for a request from one, the caller is the address it puts in X-Forwarded-For, and allow applies to that"},
	{Name: "basic_user", Help: "user name callers send with HTTP basic auth; required without client_ca"},
	{Name: "basic_password", Secret: true, Help: "password for basic_user"},
	{Name: "max_body_kb", Default: "256", Help: "largest request body accepted, in KiB"},
	{Name: "read_header_timeout", Default: "5s", Help: "time a caller has to send the request headers"},
	{Name: "read_timeout", Default: "15s", Help: "time a caller has to send the whole request"},
	{Name: "write_timeout", Default: "30s", Help: "time to send the answer"},
	{Name: "booking_cutoff", Default: "2h", Help: "slots starting sooner than this are not offered or booked"},
	{Name: "cancel_cutoff", Default: "18:00", Help: "last moment a visit may be cancelled: a duration before the visit (2h) or a time of the day before it (18:00)"},
	{Name: "session_ttl", Default: "2h", Help: "how long a Session_ID keeps the patient GetPatientInfo identified"},
	{Name: "mo_oid.*", Pattern: true, Help: "ФРМО OID of a branch, e.g. mo_oid.3 = 1.2.643.5.1.13.13.12.2.16.11022 (overrides the MIS's MO_OID)"},
	{Name: "specialty.*", Pattern: true, Help: "federal specialty code (V021) of a MIS specialty id, e.g. specialty.1 = 27 (default: the MIS's code when it is a number)"},
	{Name: "post.*", Pattern: true, Help: "position code (ФРМР) of the doctors of a MIS specialty id, e.g. post.1 = 109; required for every specialty offered"},
	{Name: "service.*", Pattern: true, Help: "federal service code of a MIS service id, e.g. service.12 = B01.047.001 (default: the MIS's code)"},
	{Name: "cancel_reason.*", Pattern: true, Help: "cancel reason the MIS records for a ФЭР reason: patient, rescheduled, doctor, clinic or other, e.g. cancel_reason.ERROR_DATA_MIS = clinic"},
}

// defaultCancelReasons are the canonical cancel reasons (connectors/booking) the
// schema's reasons are recorded as in the MIS.
var defaultCancelReasons = map[string]string{
	"CANCELED_BY_PATIENT":         "patient",
	"ERROR_DATA_MIS":              "clinic",
	"RECORD_NOT_CREATED_AT_EPGU":  "other",
	"DATA_TRANSFER_ERROR_AT_EPGU": "other",
}

// misReasons are the canonical cancel reasons of the booking path.
var misReasons = map[string]bool{"patient": true, "rescheduled": true, "doctor": true, "clinic": true, "other": true}

func isReason(s string) bool { return misReasons[s] }

var oidRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)+$`)

// settings is a parsed config section.
type settings struct {
	listen, path, publicURL string
	tls                     *tls.Config // nil: plain HTTP
	mutual                  bool
	allow                   []netip.Prefix
	proxies                 []netip.Prefix // trusted_proxies
	user, password          string
	maxBody                 int64
	readHeader, read, write time.Duration
	bookingCutoff           time.Duration
	cancelBefore            time.Duration // > 0: a duration before the visit
	cancelAt                int           // else: minutes after midnight of the day before
	sessionTTL              time.Duration
	codes                   *codes
}

// codes are the code tables of the section.
type codes struct {
	moOIDs       map[string]string
	specialties  map[string]string
	posts        map[string]string
	services     map[string]string
	cancelReason map[string]string
}

func parseSettings(env connectors.Env, cfg *connectors.Values) (*settings, error) {
	s := &settings{listen: cfg.String("listen"), path: cfg.String("path"), publicURL: cfg.String("public_url")}
	if _, _, err := net.SplitHostPort(s.listen); err != nil {
		return nil, cfg.Error("listen", "%q is not host:port such as :8443 or 10.0.0.5:8443", s.listen)
	}
	if !strings.HasPrefix(s.path, "/") {
		return nil, cfg.Error("path", "%q must start with /", s.path)
	}
	var err error
	if s.tls, s.mutual, err = tlsSettings(env, cfg); err != nil {
		return nil, err
	}
	if s.allow, err = prefixes(cfg, "allow"); err != nil {
		return nil, err
	}
	if s.proxies, err = prefixes(cfg, "trusted_proxies"); err != nil {
		return nil, err
	}
	s.user, s.password = cfg.String("basic_user"), cfg.String("basic_password")
	if !s.mutual {
		switch {
		case len(s.allow) == 0:
			return nil, cfg.Error("allow", "is empty: without client_ca (mutual TLS) the callers' addresses must be listed here, with basic_user and basic_password")
		case s.user == "" || s.password == "":
			return nil, cfg.Error("basic_user", "basic_user and basic_password are required without client_ca (mutual TLS)")
		}
	}
	kb, err := cfg.Int("max_body_kb", 4, 64*1024)
	if err != nil {
		return nil, err
	}
	s.maxBody = int64(kb) * 1024
	for key, dst := range map[string]*time.Duration{
		"read_header_timeout": &s.readHeader, "read_timeout": &s.read, "write_timeout": &s.write,
		"booking_cutoff": &s.bookingCutoff, "session_ttl": &s.sessionTTL,
	} {
		if *dst, err = cfg.Duration(key); err != nil {
			return nil, err
		}
	}
	if err := s.parseCancelCutoff(cfg); err != nil {
		return nil, err
	}
	s.codes, err = parseCodes(cfg)
	return s, err
}

func (s *settings) parseCancelCutoff(cfg *connectors.Values) error {
	v := cfg.String("cancel_cutoff")
	if h, m, ok := strings.Cut(v, ":"); ok {
		hh, herr := strconv.Atoi(h)
		mm, merr := strconv.Atoi(m)
		if herr != nil || merr != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
			return cfg.Error("cancel_cutoff", "%q is not a time of day such as 18:00", v)
		}
		s.cancelAt = hh*60 + mm
		return nil
	}
	d, err := cfg.Duration("cancel_cutoff")
	if err != nil {
		return cfg.Error("cancel_cutoff", "%q is neither a duration before the visit (2h) nor a time of the day before (18:00)", v)
	}
	s.cancelBefore = d
	if d == 0 {
		s.cancelBefore = time.Nanosecond // until the visit starts
	}
	return nil
}

// cancelDeadline is the last moment a visit starting at start may be cancelled.
func (s *settings) cancelDeadline(start time.Time) time.Time {
	if s.cancelBefore > 0 {
		return start.Add(-s.cancelBefore)
	}
	y, m, d := start.Date()
	return time.Date(y, m, d-1, s.cancelAt/60, s.cancelAt%60, 0, 0, start.Location())
}

func tlsSettings(env connectors.Env, cfg *connectors.Values) (*tls.Config, bool, error) {
	certFile, keyFile, caFile := resolve(env, cfg.String("tls_cert")), resolve(env, cfg.String("tls_key")), resolve(env, cfg.String("client_ca"))
	if certFile == "" && keyFile == "" {
		if caFile != "" {
			return nil, false, cfg.Error("client_ca", "mutual TLS needs tls_cert and tls_key (the service's own certificate)")
		}
		return nil, false, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, false, cfg.Error("tls_cert", "cannot load the certificate %s with its key %s: %v", certFile, keyFile, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, false, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, false, cfg.Error("client_ca", "cannot read %s: %v", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, false, cfg.Error("client_ca", "%s holds no PEM certificate", caFile)
	}
	tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return tc, true, nil
}

func resolve(env connectors.Env, p string) string {
	if p == "" {
		return ""
	}
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) {
		p = filepath.Join(env.BaseDir, p)
	}
	return p
}

func parseCodes(cfg *connectors.Values) (*codes, error) {
	c := &codes{moOIDs: map[string]string{}, specialties: map[string]string{}, posts: map[string]string{},
		services: map[string]string{}, cancelReason: map[string]string{}}
	for k, v := range defaultCancelReasons {
		c.cancelReason[k] = v
	}
	tables := []struct {
		prefix string
		dst    map[string]string
		check  func(string) bool
		want   string
	}{
		{"mo_oid.", c.moOIDs, oidRe.MatchString, "an OID of dotted digits such as 1.2.643.5.1.13.13.12.2.16.11022"},
		{"specialty.", c.specialties, isInt, "a whole number (the V021 specialty code)"},
		{"post.", c.posts, isInt, "a whole number (the ФРМР position code)"},
		{"service.", c.services, nonEmpty, "a service code such as B01.047.001"},
		{"cancel_reason.", c.cancelReason, isReason, "a cancel reason: patient, rescheduled, doctor, clinic or other"},
	}
	for _, t := range tables {
		for _, key := range cfg.Keys(t.prefix) {
			id, v := strings.TrimPrefix(key, t.prefix), cfg.String(key)
			if id == "" || !t.check(v) {
				return nil, cfg.Error(key, "%q is not %s", v, t.want)
			}
			if t.prefix == "cancel_reason." && defaultCancelReasons[id] == "" {
				return nil, cfg.Error(key, "%q is not a ФЭР cancel reason (CANCELED_BY_PATIENT, ERROR_DATA_MIS, RECORD_NOT_CREATED_AT_EPGU, DATA_TRANSFER_ERROR_AT_EPGU)", id)
			}
			t.dst[id] = v
		}
	}
	return c, nil
}

func isInt(s string) bool    { _, err := strconv.Atoi(s); return err == nil }
func nonEmpty(s string) bool { return strings.TrimSpace(s) != "" }

func (c *codes) moOID(b *mapping.Branch) string {
	if v := c.moOIDs[b.ID]; v != "" {
		return v
	}
	if oidRe.MatchString(b.MOOID) {
		return b.MOOID
	}
	return ""
}

// specialty is the federal code of a MIS specialty, or an error naming the key to set.
func (c *codes) specialty(id string, s *mapping.Specialty) (string, error) {
	if v := c.specialties[id]; v != "" {
		return v, nil
	}
	if s != nil && isInt(s.Code) {
		return s.Code, nil
	}
	name := id
	if s != nil {
		name = fmt.Sprintf("%s «%s»", id, s.Name)
	}
	return "", fmt.Errorf("специальность %s не сопоставлена с кодом V021 (задайте specialty.%s)", name, id)
}

// post is the position code of the doctors of a MIS specialty.
func (c *codes) post(specialtyID string) (string, error) {
	if v := c.posts[specialtyID]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("для специальности %s не задан код должности ФРМР (задайте post.%s)", specialtyID, specialtyID)
}

// service is the federal code of a MIS service ("" when it has none).
func (c *codes) service(s *mapping.Service) string {
	if v := c.services[s.ID]; v != "" {
		return v
	}
	return strings.TrimSpace(s.Code)
}

// prefixes reads a list of addresses and networks (192.0.2.7, 10.0.0.0/8).
func prefixes(cfg *connectors.Values, key string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, a := range cfg.List(key) {
		p, perr := netip.ParsePrefix(a)
		if perr != nil {
			ip, ierr := netip.ParseAddr(a)
			if ierr != nil {
				return nil, cfg.Error(key, "%q is neither an address nor a network such as 10.0.0.0/8", a)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// inPrefixes reports whether ip lies in one of ps.
func inPrefixes(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
