// Package fer is medsync's ЕПГУ/ФЭР «Запись на прием к врачу» service: the SOAP 1.1
// (document/literal) endpoint the federal/regional hub (КУ ФЭР) calls live so that
// patients signed in through ЕСИА see this clinic's departments, doctors and free
// slots, book and cancel. It answers every operation of the schema in schema/
// (namespace http://www.rt-eu.ru/med/er/v2_0) from the synced state held in memory
// (no MIS query per schedule request), books and cancels through the one booking path
// (connectors/booking), looks patients up in the MIS through the profile statement
// read.patient_lookup, and serves its WSDL at <path>?wsdl.
//
// It is a connectors.Server: the engine starts it once with the daemon. It takes the
// schedule entities as events only to keep its in-memory index current.
package fer

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/connectors/booking"
)

// Name is the connector type.
const Name = "fer"

func init() {
	connectors.Register(&connectors.Spec{
		Name:        Name,
		Description: "ЕПГУ/ФЭР «Запись на прием к врачу»: the SOAP service Госуслуги calls to list departments, doctors and free slots, book and cancel",
		Entities:    entities,
		Keeps:       entities,
		Options:     options,
		New:         New,
	})
}

// Conn is a ФЭР service instance.
type Conn struct {
	log      *slog.Logger
	set      *settings
	ix       *index
	sessions *sessions
	metrics  *metrics
	now      func() time.Time
	applied  func(connectors.Event) // tests: called for every event applied to the index

	mu       sync.Mutex
	hostV    connectors.Host
	bookerV  *booking.Booker
	bound    string
	serving  bool
	loadErr  string
	loadedAt time.Time
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Checker   = (*Conn)(nil)
	_ connectors.Server    = (*Conn)(nil)
)

// New builds the service from its config section.
func New(env connectors.Env, cfg *connectors.Values) (connectors.Connector, error) {
	set, err := parseSettings(env, cfg)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	sess, err := openSessions(env.StateFile(Name), set.sessionTTL)
	if err != nil {
		return nil, err
	}
	return &Conn{
		log: log.With("connector", Name), set: set, ix: newIndex(set.codes),
		sessions: sess, metrics: newMetrics(), now: time.Now,
	}, nil
}

// Deliver applies the synced changes to the in-memory index; nothing leaves medsync.
func (c *Conn) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	for i, ev := range batch {
		if ev.Op != connectors.OpUpsert && ev.Op != connectors.OpDelete {
			errs[i] = connectors.Permanent(fmt.Sprintf("%s %s: unknown operation %q", ev.Entity, ev.Key, ev.Op), nil)
			continue
		}
		if err := c.ix.Apply(ev); err != nil {
			errs[i] = connectors.Permanent(fmt.Sprintf("%s %s: the record data cannot be read", ev.Entity, ev.Key), err)
		} else if c.applied != nil {
			c.applied(ev)
		}
	}
	return errs
}

// Close closes the state file; Serve stops with its context.
func (c *Conn) Close() error { return c.sessions.close() }

func (c *Conn) host() connectors.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hostV
}

func (c *Conn) booker() *booking.Booker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bookerV
}

// Serve loads the synced state, listens and answers until ctx is done.
func (c *Conn) Serve(ctx context.Context, host connectors.Host) error {
	ln, err := net.Listen("tcp", c.set.listen)
	if err != nil {
		return fmt.Errorf("ФЭР: cannot listen on %s: %w", c.set.listen, err)
	}
	return c.serveOn(ctx, host, ln)
}

func (c *Conn) serveOn(ctx context.Context, host connectors.Host, ln net.Listener) error {
	c.mu.Lock()
	c.hostV, c.bound = host, ln.Addr().String()
	c.bookerV = booking.New(host, booking.Options{CutOff: c.set.bookingCutoff, Now: c.now, Logger: c.log})
	c.mu.Unlock()
	go c.loadState(ctx, host)
	srv := &http.Server{
		Handler:           c,
		ReadHeaderTimeout: c.set.readHeader,
		ReadTimeout:       c.set.read,
		WriteTimeout:      c.set.write,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		TLSConfig:         c.set.tls,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	c.setServing(true)
	defer c.setServing(false)
	served := make(chan error, 1)
	go func() {
		if c.set.tls != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	c.log.Info("ФЭР SOAP service listening", "url", c.endpointURL(nil), "tls", c.set.tls != nil, "client_certificates", c.set.mutual)
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("ФЭР: serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// loadRetry is the pause before the synced state is read again after a failure.
var loadRetry = 30 * time.Second

// loadState reads the synced state into the index, again every loadRetry until it
// succeeds; meanwhile the listener is unhealthy and answers from delivered events.
func (c *Conn) loadState(ctx context.Context, host connectors.Host) {
	for {
		err := c.ix.load(ctx, host)
		c.mu.Lock()
		if err != nil {
			c.loadErr = err.Error()
		} else {
			c.loadErr, c.loadedAt = "", time.Now()
		}
		c.mu.Unlock()
		if err == nil || ctx.Err() != nil {
			return
		}
		c.log.Error("ФЭР: the synced state cannot be read; trying again", "error", err, "retry_in", loadRetry.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(loadRetry):
		}
	}
}

func (c *Conn) setServing(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.serving = v
}

// endpointURL is the URL callers use: public_url, or built from the request.
func (c *Conn) endpointURL(r *http.Request) string {
	if c.set.publicURL != "" {
		return c.set.publicURL
	}
	scheme := "http"
	if c.set.tls != nil {
		scheme = "https"
	}
	host := c.set.listen
	if r != nil && r.Host != "" {
		host = r.Host
	} else if c.bound != "" {
		host = c.bound
	}
	return scheme + "://" + host + c.set.path
}

// Listening describes the listener for `medsync check` and the status page.
func (c *Conn) Listening() []connectors.Listener {
	c.mu.Lock()
	addr, serving, loadErr := c.set.listen, c.serving, c.loadErr
	if c.bound != "" {
		addr = c.bound
	}
	c.mu.Unlock()
	l := connectors.Listener{
		Name: "SOAP ЕПГУ/ФЭР", Addr: addr, URL: c.endpointURL(nil), TLS: c.set.tls != nil, Auth: c.authText(),
		Serving: serving,
	}
	c.ix.mu.RLock()
	loaded := c.ix.loaded
	c.ix.mu.RUnlock()
	c.ix.read(func(v *refView) {
		l.Detail = fmt.Sprintf("подразделений: %d, врачей: %d, слотов: %d", len(v.mos), len(v.docs), len(c.ix.slots))
		l.Problems = append(l.Problems, v.problems...)
	})
	if loadErr != "" {
		l.Problems = append([]string{"синхронизированные данные не прочитаны: " + loadErr}, l.Problems...)
	}
	l.Healthy = serving && loaded && loadErr == ""
	l.Requests, l.Errors = c.metrics.counts()
	return []connectors.Listener{l}
}

func (c *Conn) authText() string {
	if c.set.mutual {
		return "client certificate (mutual TLS)"
	}
	return "address allow-list + basic auth"
}

// ServeHTTP answers the endpoint: WSDL and schemas on GET, operations on POST.
func (c *Conn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.allowed(w, r) {
		return
	}
	p := r.URL.Path
	switch {
	case p == c.set.path && r.Method == http.MethodGet && r.URL.Query().Has("wsdl"):
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_ = writeWSDL(w, c.endpointURL(r))
	case r.Method == http.MethodGet && (p == c.set.path+"/er-schema.xsd" || p == c.set.path+"/er-common.xsd"):
		b, _ := schemaFS.ReadFile("schema/" + p[strings.LastIndex(p, "/")+1:])
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = w.Write(b)
	case p == c.set.path && r.Method == http.MethodPost:
		c.operation(w, r)
	case p == c.set.path:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "POST a SOAP 1.1 request, or GET "+c.set.path+"?wsdl", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

// caller is the address a request comes from: the connection's peer, or — when the
// peer is one of trusted_proxies — the address the proxy put in X-Forwarded-For, read
// from the right and skipping further trusted proxies (the left part is the client's
// own claim and not believed). false when no address can be read.
func (c *Conn) caller(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	if !inPrefixes(c.set.proxies, ip) {
		return ip, true
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, false // a hop a trusted proxy wrote cannot be read
		}
		a = a.Unmap()
		if !inPrefixes(c.set.proxies, a) {
			return a, true
		}
		ip = a
	}
	return ip, true // only trusted proxies: the request is the proxy's own
}

// allowed applies the allow-list and basic auth (client certificates are checked by
// the TLS handshake itself).
func (c *Conn) allowed(w http.ResponseWriter, r *http.Request) bool {
	if len(c.set.allow) > 0 {
		ip, ok := c.caller(r)
		ok = ok && inPrefixes(c.set.allow, ip)
		if !ok {
			c.log.Warn("ФЭР: request from an address not in allow refused", "caller", ip.String(), "remote", r.RemoteAddr)
			c.metrics.refused.Inc()
			http.Error(w, "address not allowed", http.StatusForbidden)
			return false
		}
	}
	if c.set.user != "" {
		u, pw, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(c.set.user)) != 1 || subtle.ConstantTimeCompare([]byte(pw), []byte(c.set.password)) != 1 {
			c.metrics.refused.Inc()
			w.Header().Set("WWW-Authenticate", `Basic realm="medsync FER", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return false
		}
	}
	return true
}

// operation reads, dispatches and answers one SOAP request.
func (c *Conn) operation(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.set.maxBody))
	op := opFromAction(r.Header.Get("SOAPAction"))
	var resp any
	switch {
	case err != nil:
		msg := "Запрос не прочитан"
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = fmt.Sprintf("Запрос больше допустимых %d КиБ", c.set.maxBody/1024)
		}
		resp = c.fault(w, op, &ErrorType{Code: codeInvalid, Message: msg})
	default:
		req, perr := parseEnvelope(body, r.Header.Get("SOAPAction"))
		op = req.op
		if perr != nil {
			resp = c.fault(w, op, perr)
		} else {
			resp = c.dispatch(r.Context(), req)
		}
	}
	if resp != nil {
		writeEnvelope(w, http.StatusOK, resp)
	}
	c.metrics.observe(op, outcome(resp), time.Since(began))
}

// fault answers a request that could not be read: with the operation's Error when the
// operation is known, else with a SOAP Fault (written here; nil is returned).
func (c *Conn) fault(w http.ResponseWriter, op string, e *ErrorType) any {
	if op != "" {
		return c.errorResponse(op, "", e)
	}
	writeFault(w, "soap:Client", e.Message)
	return nil
}

func (c *Conn) dispatch(ctx context.Context, req *request) (resp any) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("ФЭР: request handler panicked", "operation", req.op, "panic", p)
			resp = c.errorResponse(req.op, "", &ErrorType{Code: codeInternal, Message: "Внутренняя ошибка сервиса, повторите запрос позже"})
		}
	}()
	switch req.op {
	case OpGetPatientInfo:
		return c.getPatientInfo(ctx, req)
	case OpGetReferralInfo:
		return c.getReferralInfo(req)
	case OpGetMOInfoExtended:
		return c.getMOInfo(req)
	case OpGetServicePostSpecs:
		return c.getServicePostSpecs(req)
	case OpGetMOResourceInfo:
		return c.getMOResource(req)
	case OpGetScheduleInfo:
		return c.getSchedule(req)
	case OpCreateAppointment:
		return c.createAppointment(ctx, req)
	case OpCancelAppointment:
		return c.cancelAppointment(ctx, req)
	case OpReferralAppointmentIn:
		return c.referralAppointment(req)
	}
	return c.errorResponse(req.op, "", &ErrorType{Code: codeInvalid, Message: "Неизвестная операция"})
}
