// Package status is medsync's window for clinic IT: an HTTP server on
// [service] status_listen with /healthz (200 while a poll succeeded within the last
// three poll intervals, else 503 with a JSON reason), /metrics (Prometheus, a registry
// of its own fed by Collector, which implements engine.Observer, and by the state
// store), / (a status page in Russian, server-rendered, no JavaScript) and
// /status.json (the same facts, read by `medsync status`).
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"medsync/service/config"
)

// Server serves the status endpoints.
type Server struct {
	src Source
	col *Collector
	log *slog.Logger
	srv *http.Server
}

// Listen opens [service] status_listen. A port already in use, or an address this
// server does not have, is reported naming the config file, section and key.
func Listen(cfg *config.Config) (net.Listener, error) {
	addr := cfg.Service.StatusListen
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		hint := "choose another address or port"
		if errors.Is(err, syscall.EADDRINUSE) || isAddrInUse(err) {
			hint = "another program (or another medsync) already listens there: stop it or choose another port"
		}
		return nil, fmt.Errorf("%s: [service] status_listen: cannot listen on %s: %v; %s", cfg.File, addr, err, hint)
	}
	return ln, nil
}

func isAddrInUse(err error) bool {
	var se *net.OpError
	if errors.As(err, &se) {
		var errno syscall.Errno
		if errors.As(se.Err, &errno) {
			// WSAEADDRINUSE on Windows.
			return errno == 10048
		}
	}
	return false
}

// NewServer builds the server; col may be nil (no /metrics counters, queue gauges
// only when attached).
func NewServer(src Source, col *Collector, log *slog.Logger) *Server {
	if col == nil {
		col = NewCollector()
		col.Attach(src.Store, enabledNames(src.Cfg))
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{src: src, col: col, log: log}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return s
}

func enabledNames(cfg *config.Config) []string {
	var out []string
	for _, cc := range cfg.Enabled() {
		out = append(out, cc.Name)
	}
	return out
}

// Handler returns the HTTP handler with every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /status.json", s.statusJSON)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.col.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", s.page)
	for prefix, h := range s.src.Mounts {
		mux.Handle(prefix, h)
	}
	return guard(mux, allowedHosts(s.src.Cfg))
}

// guard adds the headers every page needs (no framing, no MIME sniffing, a strict
// content policy a mounted page may tighten or replace) and refuses requests whose
// Host is a name this server was not given: a page on another site that points its
// own DNS name at this address (DNS rebinding) cannot read /status.json. IP
// addresses, localhost and this computer's names are always allowed.
func guard(next http.Handler, hosts map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
		if !hostAllowed(r.Host, hosts) {
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprintf(w, "Имя %q не относится к этому серверу medsync. Откройте страницу по IP-адресу или по имени компьютера, "+
				"или добавьте это имя в [service] status_hosts файла config.ini.\n"+
				"The host name %q is not one of this medsync server's names; add it to [service] status_hosts.\n", r.Host, r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHosts are the names (lower case, no port) the Host header may carry besides
// IP addresses: localhost, this computer's name and [service] status_hosts.
func allowedHosts(cfg *config.Config) map[string]bool {
	m := map[string]bool{"localhost": true}
	if name, err := os.Hostname(); err == nil && name != "" {
		m[strings.ToLower(name)] = true
		if i := strings.IndexByte(name, '.'); i > 0 {
			m[strings.ToLower(name[:i])] = true
		}
	}
	if cfg != nil {
		for _, h := range cfg.Service.StatusHosts {
			m[strings.ToLower(h)] = true
		}
	}
	return m
}

func hostAllowed(host string, names map[string]bool) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" || net.ParseIP(host) != nil {
		return true
	}
	host = strings.ToLower(host)
	return names[host] || strings.HasSuffix(host, ".localhost")
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	var err error
	if s.src.CertFile != "" && s.src.KeyFile != "" {
		err = s.srv.ServeTLS(ln, s.src.CertFile, s.src.KeyFile)
	} else {
		err = s.srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for requests in flight until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) facts(r *http.Request) (*Facts, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	src := s.src
	if src.Progress == nil {
		src.Progress = s.col.Progress
	}
	if src.Delivered == nil {
		src.Delivered = s.col.DeliveredOK
	}
	return Gather(ctx, src)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log.Error("status: cannot gather facts", "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]any{"status": "error", "reason": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Health is the /healthz body.
type Health struct {
	Status      string    `json:"status"` // "ok" or "unhealthy"
	Reason      string    `json:"reason,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastPoll    *Poll     `json:"last_poll,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	f, err := s.facts(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	h := Health{Status: "ok", LastSuccess: f.LastOK, LastPoll: f.LastPoll}
	code := http.StatusOK
	if !f.Healthy {
		h.Status, h.Reason, code = "unhealthy", f.Reason, http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

func (s *Server) statusJSON(w http.ResponseWriter, r *http.Request) {
	f, err := s.facts(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	f, err := s.facts(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := renderPage(w, f); err != nil {
		s.log.Error("status: cannot render the page", "error", err)
	}
}
