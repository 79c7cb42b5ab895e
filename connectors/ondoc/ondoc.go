// Package ondoc is medsync's connector to ONDOC, the patient app and web account of
// «Медицинская карта». It sends branches, specialties, doctors, services, slots and
// the appointments of linked patients; it sends and revokes 9-digit link codes; and on
// every poll it pulls bookings, cancellations and link notices made in ONDOC and writes
// bookings into the MIS through the profile's write statements.
//
// ONDOC has no public partner API: every wire shape lives in contract.go and is
// described in README.md as the contract this release speaks.
package ondoc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"golang.org/x/time/rate"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
)

// Name is the connector type.
const Name = "ondoc"

// keysHint is what clinic IT does when a key is refused.
const keysHint = "copy the keys again from the ONDOC clinic account, section «Интеграция и реферальный код» (token_company = «Access token (старое API)», token_branch = «Access token (новое API)»)"

func init() {
	connectors.Register(&connectors.Spec{
		Name:        Name,
		Description: "ONDOC patient app («Медицинская карта»): schedule, visits of linked patients, link codes, bookings back into the MIS",
		Entities: []string{
			mapping.EntityBranch, mapping.EntitySpecialty, mapping.EntityDoctor, mapping.EntityService,
			mapping.EntitySlot, mapping.EntityAppointment, mapping.EntityPatient,
		},
		// Inbound bookings need each branch's time zone, and the synced slots for a
		// fast schedule check (connectors/booking).
		Keeps: []string{mapping.EntityBranch, mapping.EntitySlot},
		Options: []connectors.Option{
			{Name: "server", Required: true, Help: "ONDOC server base URL («Сервер» in the vendor plugin), e.g. https://mis-api.ondoc.example/v1"},
			{Name: "token_company", Required: true, Secret: true, Help: "«Access token (старое API)»: the company key"},
			{Name: "token_branch", Required: true, Secret: true, Help: "«Access token (новое API)»: the branch key"},
			{Name: "timezone", Help: "offset times are sent with, e.g. +03:00 («Часовой пояс»); empty: each record's own offset"},
			{Name: "timeout", Default: "30s", Help: "timeout of one HTTP request"},
			{Name: "rate_limit", Default: "10", Help: "most requests per second to ONDOC (0 = unlimited)"},
			{Name: "inbound_interval", Default: "0s", Help: "least time between two pulls of ONDOC's events feed; 0 = every poll"},
			{Name: "link_required", Default: "true", Help: "send appointments only for patients linked to the clinic with a 9-digit code"},
			{Name: "auth_header", Default: defaultAuthHeader, Help: "HTTP header carrying the key"},
			{Name: "auth_scheme", Default: defaultAuthScheme, Help: "word before the key in auth_header; empty sends the bare key"},
			{Name: "idempotency_header", Default: defaultIdempotencyHeader, Help: "HTTP header carrying the idempotency key"},
			{Name: "path.*", Pattern: true, Help: "override one endpoint path, e.g. path.visits = /api/v2/branch/visits; names: " + strings.Join(endpointNames(), ", ")},
		},
		New: New,
	})
}

// Conn is an ONDOC connector instance.
type Conn struct {
	log          *slog.Logger
	client       *resty.Client
	tokens       map[string]string
	endpoints    map[string]endpoint
	zone         *time.Location // nil: each record's own offset
	authHeader   string
	authScheme   string
	idemHeader   string
	linkRequired bool
	inboundEvery time.Duration
	limiter      *rate.Limiter
	store        *store
	now          func() time.Time
	misZone      *time.Location // the service zone: the MIS's wall times of a branch without its own
	daysAhead    int            // the sync window; bookings beyond it are refused

	mu          sync.Mutex // serialises Deliver, Run and link calls on the store
	lastInbound time.Time
	// inboundAfter: ONDOC asked (429/503 with Retry-After) not to pull the feed before it.
	inboundAfter time.Time
	warnedOnce   map[string]bool
}

var (
	_ connectors.Connector     = (*Conn)(nil)
	_ connectors.Checker       = (*Conn)(nil)
	_ connectors.Runner        = (*Conn)(nil)
	_ connectors.LinkRegistrar = (*Conn)(nil)
	_ connectors.LinkChecker   = (*Conn)(nil)
)

// New builds the connector from its config section.
func New(env connectors.Env, cfg *connectors.Values) (connectors.Connector, error) {
	server, err := cfg.Required("server")
	if err != nil {
		return nil, err
	}
	u, perr := url.Parse(server)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, cfg.Error("server", "%q is not an http(s) URL such as https://mis-api.ondoc.example/v1", server)
	}
	c := &Conn{
		log:        env.Logger,
		tokens:     map[string]string{},
		endpoints:  map[string]endpoint{},
		authHeader: cfg.String("auth_header"),
		authScheme: cfg.String("auth_scheme"),
		idemHeader: cfg.String("idempotency_header"),
		now:        time.Now,
		warnedOnce: map[string]bool{},
		misZone:    env.Zone,
		daysAhead:  env.DaysAhead,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("connector", Name)
	if c.tokens[tokenCompany], err = cfg.Required("token_company"); err != nil {
		return nil, err
	}
	if c.tokens[tokenBranch], err = cfg.Required("token_branch"); err != nil {
		return nil, err
	}
	if c.authHeader == "" {
		c.authHeader = defaultAuthHeader
	}
	if c.idemHeader == "" {
		c.idemHeader = defaultIdempotencyHeader
	}
	if tz := cfg.String("timezone"); tz != "" {
		if c.zone, err = convert.ParseOffsetZone(tz); err != nil {
			return nil, cfg.Error("timezone", "%v", err)
		}
	}
	timeout, err := cfg.Duration("timeout")
	if err != nil {
		return nil, err
	}
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	rl, err := cfg.Int("rate_limit", 0, 10000)
	if err != nil {
		return nil, err
	}
	if rl > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(rl), rl)
	}
	if c.inboundEvery, err = cfg.Duration("inbound_interval"); err != nil {
		return nil, err
	}
	c.linkRequired = true
	if cfg.String("link_required") != "" {
		if c.linkRequired, err = cfg.Bool("link_required"); err != nil {
			return nil, err
		}
	}
	for name, ep := range defaultEndpoints {
		if p := cfg.String("path." + name); p != "" {
			if !strings.HasPrefix(p, "/") {
				return nil, cfg.Error("path."+name, "%q must start with /", p)
			}
			ep.Path = p
		}
		c.endpoints[name] = ep
	}
	if unknown := unknownPathKeys(cfg); len(unknown) > 0 {
		return nil, cfg.Error(unknown[0], "no such endpoint; known: path.%s", strings.Join(endpointNames(), ", path."))
	}

	if c.store, err = openStore(env.StateFile(Name)); err != nil {
		return nil, err
	}
	c.client = resty.New().
		SetBaseURL(strings.TrimRight(server, "/")).
		SetTimeout(timeout).
		SetRetryCount(0).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "medsync-ondoc")
	return c, nil
}

// unknownPathKeys lists path.* keys that name no endpoint. Values does not expose its
// keys, so every plausible misspelling cannot be found; the check covers the names of
// entities, which is the likely slip (path.visit for path.visits).
func unknownPathKeys(cfg *connectors.Values) []string {
	var out []string
	for _, n := range mapping.Entities {
		k := "path." + n
		if _, ok := defaultEndpoints[n]; !ok && cfg.String(k) != "" {
			out = append(out, k)
		}
	}
	return out
}

// Close releases the state store.
func (c *Conn) Close() error {
	c.client.GetClient().CloseIdleConnections()
	return c.store.close()
}

// httpStatusError is a non-2xx answer.
type httpStatusError struct {
	Endpoint string
	Status   int
	Code     string
	Message  string
	Field    string
	MisID    string
}

func (e *httpStatusError) Error() string {
	s := fmt.Sprintf("ondoc %s: HTTP %d", e.Endpoint, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// call performs one request. body may be nil; out, when non-nil, receives a 2xx JSON
// answer. The returned error is already classified (connectors.Permanent/Transient)
// except for 4xx record rejections, returned as *httpStatusError wrapped in Permanent.
func (c *Conn) call(ctx context.Context, name, idemKey string, query map[string]string, body, out any) error {
	ep := c.endpoints[name]
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return connectors.Transient(fmt.Errorf("ondoc %s: %w", name, err), 0)
		}
	}
	auth := c.tokens[ep.Token]
	if c.authScheme != "" {
		auth = c.authScheme + " " + auth
	}
	req := c.client.R().SetContext(ctx).SetHeader(c.authHeader, auth)
	if idemKey != "" {
		req.SetHeader(c.idemHeader, idemKey)
	}
	if body != nil {
		req.SetHeader("Content-Type", "application/json").SetBody(body)
	}
	if query != nil {
		req.SetQueryParams(query)
	}
	resp, err := req.Execute(ep.Method, ep.Path)
	if err != nil {
		if ctx.Err() != nil {
			return connectors.Transient(fmt.Errorf("ondoc %s: %w", name, ctx.Err()), 0)
		}
		return connectors.Transient(fmt.Errorf("ondoc %s: server %s not reachable (check the address in «server», the network and the firewall): %w", name, c.client.BaseURL, err), 0)
	}
	st := resp.StatusCode()
	if st >= 200 && st < 300 {
		if out != nil && len(resp.Body()) > 0 {
			if err := jsonUnmarshal(resp.Body(), out); err != nil {
				return connectors.Transient(fmt.Errorf("ondoc %s: unreadable answer: %w", name, err), 0)
			}
		}
		return nil
	}
	code, msg, field, misID := decodeError(resp.Body())
	herr := &httpStatusError{Endpoint: name, Status: st, Code: code, Message: msg, Field: field, MisID: misID}
	switch {
	case st == 401 || st == 403:
		which := "company key (token_company, «Access token (старое API)»)"
		if ep.Token == tokenBranch {
			which = "branch key (token_branch, «Access token (новое API)»)"
		}
		return connectors.Permanent(fmt.Sprintf("ONDOC refused the %s with HTTP %d; %s", which, st, keysHint), herr)
	case st == 429 || st >= 500 || st == 408:
		return connectors.Transient(herr, retryAfter(resp.Header().Get("Retry-After"), c.now()))
	default:
		return connectors.Permanent(herr.Error(), herr)
	}
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := parseHTTPDate(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// isAuthError reports whether err is ONDOC refusing a key.
func isAuthError(err error) bool {
	var h *httpStatusError
	return errors.As(err, &h) && (h.Status == 401 || h.Status == 403)
}

// isStatus reports whether err is an HTTP answer with the given status.
func isStatus(err error, status int) bool {
	var h *httpStatusError
	return errors.As(err, &h) && h.Status == status
}

// batchKey derives one idempotency key for a request carrying several events.
func batchKey(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return "batch-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// derivedKey is an idempotency key for requests that are not events.
func derivedKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return parts[0] + "-" + hex.EncodeToString(h[:])[:32]
}

// Check tests that the server answers and that each key is accepted.
func (c *Conn) Check(ctx context.Context) []connectors.Check {
	var out []connectors.Check
	reach := connectors.Check{Name: "ondoc: server " + c.client.BaseURL + " reachable"}
	compErr := c.call(ctx, epCompanyPing, "", nil, nil, nil)
	if compErr != nil && !isHTTP(compErr) {
		reach.Err = compErr
		reach.Hint = "check «server» in [connector.ondoc], DNS, proxy and the firewall of this machine"
		return append(out, reach)
	}
	out = append(out, reach)
	for _, k := range []struct{ ep, name string }{{epCompanyPing, "company key (token_company)"}, {epBranchPing, "branch key (token_branch)"}} {
		ch := connectors.Check{Name: "ondoc: " + k.name + " accepted"}
		err := compErr
		if k.ep != epCompanyPing {
			err = c.call(ctx, k.ep, "", nil, nil, nil)
		}
		if err != nil {
			ch.Err = err
			if isAuthError(err) {
				ch.Hint = keysHint
			} else {
				ch.Hint = "ONDOC answered with an error; retry later or ask ONDOC support"
			}
		}
		out = append(out, ch)
	}
	return out
}

func isHTTP(err error) bool {
	var h *httpStatusError
	return errors.As(err, &h)
}
