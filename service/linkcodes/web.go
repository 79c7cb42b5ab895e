package linkcodes

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"medsync/mapping"
)

// Prefix is where Handler expects to be mounted: mux.Handle(linkcodes.Prefix, svc.Handler()).
const Prefix = "/registrar/"

const (
	sessionCookie = "medsync_registrar"
	preCookie     = "medsync_registrar_pre" // double-submit token of the sign-in form
)

// dummyHash makes a sign-in with an unknown user name cost as much as a known one. It
// is made at the first sign-in, not at start: a bcrypt hash takes ~80 ms, which every
// `medsync once` of a poll would pay.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("medsync-unknown-user"), bcrypt.DefaultCost)
	return h
})

type web struct {
	s    *Service
	mux  *http.ServeMux
	tmpl *template.Template
}

// Handler serves the registrar's page (Russian, server-rendered, no JavaScript needed).
// Mount it at Prefix on the status server.
func (s *Service) Handler() http.Handler { return s.web }

func newWeb(s *Service) *web {
	fm := template.FuncMap{}
	for k, v := range funcs {
		fm[k] = v
	}
	fm["when"] = func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(s.o.Zone).Format("02.01.2006 15:04")
	}
	w := &web{s: s, mux: http.NewServeMux(), tmpl: template.Must(template.New("page").Funcs(fm).Parse(pageHTML))}
	w.mux.HandleFunc("GET "+Prefix+"{$}", w.home)
	w.mux.HandleFunc("POST "+Prefix+"login", w.login)
	w.mux.HandleFunc("POST "+Prefix+"logout", w.authed(w.logout))
	w.mux.HandleFunc("GET "+Prefix+"patient", w.authedGet(w.patient))
	w.mux.HandleFunc("POST "+Prefix+"issue", w.authed(w.issue))
	w.mux.HandleFunc("POST "+Prefix+"resend", w.authed(w.resend))
	w.mux.HandleFunc("POST "+Prefix+"revoke", w.authed(w.revoke))
	w.mountDeletions()
	return w
}

func (w *web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.mux.ServeHTTP(rw, r)
}

type session struct {
	User string
	CSRF string
}

// page is the template's data.
type page struct {
	Title    string
	User     string
	CSRF     string
	Error    string
	Notice   string
	Query    string
	Results  []*mapping.Patient
	Searched bool
	Status   *Status
	Issued   *Issued
	Resent   *Issued
	Login    bool
	PreToken string
	Admin    bool      // the user may review held deletions
	Held     *heldPage // the held-deletions review (admins)
}

func (w *web) render(rw http.ResponseWriter, status int, p *page) {
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	p.Admin = p.User != "" && w.s.o.Registrar.Admins[p.User]
	if err := w.tmpl.Execute(rw, p); err != nil {
		w.s.log.Error("registrar page: template", "error", err)
	}
}

func (w *web) secure(r *http.Request) bool { return r.TLS != nil || w.s.o.SecureCookies }

// session returns the signed-in session of r, or nil.
func (w *web) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	var ss session
	var expires int64
	err = w.s.st.db.QueryRowContext(r.Context(), `SELECT user, csrf, expires FROM sessions WHERE token_hash = ?`, sha256Hex(c.Value)).Scan(&ss.User, &ss.CSRF, &expires)
	if err != nil || expires <= w.s.now().Unix() {
		return nil
	}
	if _, ok := w.s.o.Registrar.Users[ss.User]; !ok {
		return nil // the user was removed from the config
	}
	return &ss
}

// NewSession creates a session for user and returns its cookie value (the status
// server's tests and the Chromium test use it to skip the sign-in form).
func (s *Service) NewSession(ctx context.Context, user string) (string, error) {
	token := randomToken(32)
	_, err := s.st.db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user, csrf, expires) VALUES (?, ?, ?, ?)`,
		sha256Hex(token), user, randomToken(16), s.now().Add(s.o.Registrar.SessionLifetime).Unix())
	if err != nil {
		return "", fmt.Errorf("link codes: state file: session: %w", err)
	}
	_, _ = s.st.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= ?`, s.now().Unix())
	return token, nil
}

// SessionCookie is the name of the registrar session cookie.
const SessionCookie = sessionCookie

func (w *web) authedGet(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		ss := w.session(r)
		if ss == nil {
			http.Redirect(rw, r, Prefix, http.StatusSeeOther)
			return
		}
		h(rw, r, ss)
	}
}

// authed guards POST handlers: a session and its CSRF token are required.
func (w *web) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		ss := w.session(r)
		if ss == nil {
			http.Redirect(rw, r, Prefix, http.StatusSeeOther)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ss.CSRF)) != 1 {
			w.s.log.Warn("registrar page: request without a valid CSRF token refused", "user", ss.User, "path", r.URL.Path)
			w.render(rw, http.StatusForbidden, &page{Title: "Ошибка", User: ss.User, CSRF: ss.CSRF,
				Error: "Форма устарела или отправлена с другого сайта. Обновите страницу и повторите."})
			return
		}
		h(rw, r, ss)
	}
}

func (w *web) home(rw http.ResponseWriter, r *http.Request) {
	ss := w.session(r)
	if ss == nil {
		w.loginPage(rw, r, http.StatusOK, "")
		return
	}
	p := &page{Title: "Привязка пациентов к ONDOC", User: ss.User, CSRF: ss.CSRF, Query: r.URL.Query().Get("q")}
	if p.Query != "" {
		p.Searched = true
		res, err := w.s.Find(r.Context(), p.Query)
		if err != nil {
			p.Error = RU(err)
		}
		p.Results = res
	}
	w.render(rw, http.StatusOK, p)
}

func (w *web) loginPage(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken(16)
	http.SetCookie(rw, &http.Cookie{Name: preCookie, Value: tok, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: w.secure(r)})
	w.render(rw, status, &page{Title: "Вход", Login: true, PreToken: tok, Error: msg})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (w *web) login(rw http.ResponseWriter, r *http.Request) {
	pre, err := r.Cookie(preCookie)
	if err != nil || pre.Value == "" || subtle.ConstantTimeCompare([]byte(pre.Value), []byte(r.PostFormValue("pre"))) != 1 {
		w.loginPage(rw, r, http.StatusForbidden, "Форма входа устарела. Повторите вход.")
		return
	}
	ctx := r.Context()
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("user")))
	pass := r.PostFormValue("password")
	ip := clientIP(r)
	keys := w.throttleKeys(user, ip)
	// The attempt is counted before the password is looked at, in one transaction:
	// parallel guesses cannot all slip through while the first ones are checked.
	wait, err := w.reserve(ctx, keys)
	if err != nil {
		w.s.log.Error("registrar sign-in refused: state file", "error", err)
		w.loginPage(rw, r, http.StatusInternalServerError, "Ошибка файла состояния medsync; подробности в журнале.")
		return
	}
	if wait > 0 {
		w.s.log.Warn("registrar sign-in refused: locked out", "user", user, "client", ip, "wait", wait.Round(time.Second).String())
		w.loginPage(rw, r, http.StatusTooManyRequests, fmt.Sprintf("Слишком много неудачных попыток входа. Повторите через %s.", minutesRU(wait)))
		return
	}
	hash, known := w.s.o.Registrar.Users[user]
	if !known {
		hash = string(dummyHash())
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil || !known {
		w.s.log.Warn("registrar sign-in failed", "user", user, "client", ip)
		_ = w.s.st.addAudit(ctx, AuditEntry{At: w.s.now(), Actor: user, Action: "login_failed", Detail: ip})
		w.loginPage(rw, r, http.StatusUnauthorized, "Неверное имя пользователя или пароль.")
		return
	}
	for _, k := range keys {
		_, _ = w.s.st.db.ExecContext(ctx, `DELETE FROM throttle WHERE key = ?`, k.key)
	}
	tok, err := w.s.NewSession(ctx, user)
	if err != nil {
		w.s.log.Error("registrar sign-in", "error", err)
		w.loginPage(rw, r, http.StatusInternalServerError, "Ошибка файла состояния medsync; подробности в журнале.")
		return
	}
	_ = w.s.st.addAudit(ctx, AuditEntry{At: w.s.now(), Actor: user, Action: "login", Detail: ip})
	w.s.log.Info("registrar signed in", "user", user, "client", ip)
	http.SetCookie(rw, &http.Cookie{Name: preCookie, Value: "", Path: Prefix, MaxAge: -1})
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: tok, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: w.secure(r), MaxAge: int(w.s.o.Registrar.SessionLifetime.Seconds())})
	http.Redirect(rw, r, Prefix, http.StatusSeeOther)
}

// throttleKey is one counter of failed sign-ins: after limit failures the key is
// locked, for LockoutInitial doubled with each lock-out (at most LockoutMax), or —
// when fixed — for LockoutInitial every time.
type throttleKey struct {
	key   string
	limit int
	fixed bool
}

// throttleKeys are the counters one sign-in attempt is charged to:
//   - the (user name, client address) pair: LoginMaxFailures, then a doubling lock —
//     a guesser at one address is stopped, the registrar at another is not;
//   - the client address: 3 × LoginMaxFailures (one address guessing many names; an
//     office behind one NAT shares it, hence the higher limit);
//   - the user name from anywhere: 10 × LoginMaxFailures, then LockoutInitial
//     each time, never longer — guessing from many addresses is slowed down, but a
//     stranger cannot lock the registrar out for long.
func (w *web) throttleKeys(user, ip string) []throttleKey {
	n := w.s.o.Registrar.LoginMaxFailures
	keys := []throttleKey{{key: "ip:" + ip, limit: 3 * n}}
	if user != "" {
		keys = append(keys, throttleKey{key: "pair:" + user + "\x00" + ip, limit: n}, throttleKey{key: "user:" + user, limit: 10 * n, fixed: true})
	}
	return keys
}

// reserve charges one attempt to every key, atomically, before the password is
// checked. It returns how long the longest lock-out among keys still lasts (the
// attempt is then not counted and must be refused). The attempt that reaches a key's
// limit sets its lock-out and is still checked: a right password lifts it.
func (w *web) reserve(ctx context.Context, keys []throttleKey) (time.Duration, error) {
	cfg := w.s.o.Registrar
	now := w.s.now()
	tx, err := w.s.st.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("link codes: state file: throttle: %w", err)
	}
	defer tx.Rollback()
	type counter struct {
		failures, locks int
		until           int64
	}
	cs := make([]counter, len(keys))
	var wait time.Duration
	for i, k := range keys {
		err := tx.QueryRowContext(ctx, `SELECT failures, locks, locked_until FROM throttle WHERE key = ?`, k.key).Scan(&cs[i].failures, &cs[i].locks, &cs[i].until)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("link codes: state file: throttle: %w", err)
		}
		wait = max(wait, time.Unix(cs[i].until, 0).Sub(now))
	}
	if wait > 0 {
		return wait, nil
	}
	for i, k := range keys {
		c := &cs[i]
		c.failures++
		if c.failures >= k.limit {
			d := cfg.LockoutInitial
			if !k.fixed {
				d = time.Duration(float64(cfg.LockoutInitial) * math.Pow(2, float64(c.locks)))
			}
			if d > cfg.LockoutMax || d <= 0 {
				d = cfg.LockoutMax
			}
			c.until, c.failures = now.Add(d).Unix(), 0
			c.locks++
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO throttle (key, failures, locks, locked_until) VALUES (?, ?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET failures = excluded.failures, locks = excluded.locks, locked_until = excluded.locked_until`,
			k.key, c.failures, c.locks, c.until); err != nil {
			return 0, fmt.Errorf("link codes: state file: throttle: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("link codes: state file: throttle: %w", err)
	}
	return 0, nil
}

func minutesRU(d time.Duration) string {
	m := int(math.Ceil(d.Minutes()))
	if m < 1 {
		m = 1
	}
	return fmt.Sprintf("%d мин.", m)
}

func (w *web) logout(rw http.ResponseWriter, r *http.Request, ss *session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_, _ = w.s.st.db.ExecContext(r.Context(), `DELETE FROM sessions WHERE token_hash = ?`, sha256Hex(c.Value))
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: w.secure(r)})
	http.Redirect(rw, r, Prefix, http.StatusSeeOther)
}

func (w *web) statusPage(r *http.Request, ss *session, id string) (*page, int) {
	p := &page{Title: "Пациент", User: ss.User, CSRF: ss.CSRF}
	st, err := w.s.Status(r.Context(), id)
	if err != nil {
		p.Error = RU(err)
		return p, http.StatusNotFound
	}
	p.Status = st
	if st.Patient != nil {
		p.Title = st.Patient.LastName + " " + st.Patient.FirstName
	}
	return p, http.StatusOK
}

func (w *web) patient(rw http.ResponseWriter, r *http.Request, ss *session) {
	p, code := w.statusPage(r, ss, r.URL.Query().Get("id"))
	w.render(rw, code, p)
}

func (w *web) issue(rw http.ResponseWriter, r *http.Request, ss *session) {
	w.send(rw, r, ss, w.s.Issue, func(p *page, res *Issued) { p.Issued = res })
}

func (w *web) resend(rw http.ResponseWriter, r *http.Request, ss *session) {
	w.send(rw, r, ss, w.s.Resend, func(p *page, res *Issued) { p.Resent = res })
}

// send issues or resends a code for the form's patient and shows the patient page
// with the outcome.
func (w *web) send(rw http.ResponseWriter, r *http.Request, ss *session,
	do func(ctx context.Context, patientID, actor string) (*Issued, error), show func(*page, *Issued)) {
	id := r.PostFormValue("id")
	res, err := do(r.Context(), id, ss.User)
	p, code := w.statusPage(r, ss, id)
	if err != nil {
		p.Error = RU(err)
		if code == http.StatusOK {
			code = http.StatusUnprocessableEntity
		}
	}
	show(p, res)
	w.render(rw, code, p)
}

func (w *web) revoke(rw http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PostFormValue("id")
	err := w.s.Revoke(r.Context(), id, ss.User)
	p, code := w.statusPage(r, ss, id)
	if err != nil {
		p.Error = RU(err)
		if code == http.StatusOK {
			code = http.StatusUnprocessableEntity
		}
	} else {
		p.Notice = "Код отозван, привязка снята."
	}
	w.render(rw, code, p)
}

var funcs = template.FuncMap{
	"when":    func(t time.Time) string { return t.Format("02.01.2006 15:04") }, // replaced per service (zone)
	"state":   StateRU,
	"channel": channelRU,
	"birth": func(s string) string {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t.Format("02.01.2006")
		}
		return s
	},
	"groups": func(code string) string { // 123 456 789
		if len(code) != CodeLength {
			return code
		}
		return code[:3] + " " + code[3:6] + " " + code[6:]
	},
	"query": url.QueryEscape,
	"action": func(a string) string {
		switch a {
		case "issue":
			return "выдан код"
		case "resend":
			return "код отправлен повторно"
		case "revoke":
			return "код отозван"
		case "link":
			return "привязка"
		case "unlink":
			return "отвязка"
		}
		return a
	},
}

const pageHTML = `<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>{{.Title}} — medsync</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#1f4e79;color:#fff;padding:10px 20px;display:flex;justify-content:space-between;align-items:center}
header form{display:inline} header button{background:none;border:1px solid #fff;color:#fff;padding:4px 10px;cursor:pointer}
main{max-width:900px;margin:20px auto;padding:0 20px}
.box{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:16px 20px;margin-bottom:16px}
.err{background:#fde8e8;border:1px solid #e0a0a0;color:#8a1010;padding:10px 14px;border-radius:6px;margin-bottom:16px}
.ok{background:#e6f4ea;border:1px solid #9ccaa6;color:#135a22;padding:10px 14px;border-radius:6px;margin-bottom:16px}
.code{font-size:56px;font-weight:700;letter-spacing:6px;font-family:Consolas,monospace;text-align:center;margin:10px 0}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
input[type=text],input[type=password]{padding:6px 8px;font-size:16px;width:320px}
button{padding:6px 14px;font-size:15px;cursor:pointer} .danger{color:#8a1010}
.actions form{display:inline-block;margin-right:10px}
</style></head><body>
<header><b>medsync · привязка пациентов к ONDOC</b>{{if .User}}<span>{{if .Admin}}<a href="/registrar/deletions" style="color:#fff;margin-right:14px">Задержанные удаления</a>{{end}}{{.User}} <form method="post" action="/registrar/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button>Выйти</button></form></span>{{end}}</header>
<main>
{{if .Error}}<div class="err" id="error">{{.Error}}</div>{{end}}
{{if .Notice}}<div class="ok" id="notice">{{.Notice}}</div>{{end}}
{{with .Held}}{{template "held" $}}{{end}}
{{if .Login}}
<div class="box"><h2>Вход для регистратора</h2>
<form method="post" action="/registrar/login">
<input type="hidden" name="pre" value="{{.PreToken}}">
<p><label>Пользователь<br><input type="text" name="user" autocomplete="username" required></label></p>
<p><label>Пароль<br><input type="password" name="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Войти</button></p>
</form></div>
{{else}}
<div class="box"><form method="get" action="/registrar/">
<label>Поиск пациента: фамилия и имя, дата рождения (ДД.ММ.ГГГГ) или номер карты<br>
<input type="text" name="q" value="{{.Query}}" autofocus> <button type="submit">Найти</button></label></form>
{{if .Searched}}{{if .Results}}
<table id="results"><tr><th>ФИО</th><th>Дата рождения</th><th>Карта</th><th></th></tr>
{{range .Results}}<tr><td>{{.LastName}} {{.FirstName}} {{.MiddleName}}</td><td>{{birth .BirthDate}}</td><td>{{.CardNumber}}</td>
<td><a href="/registrar/patient?id={{query .ID}}">открыть</a></td></tr>{{end}}</table>
{{else if not $.Error}}<p>Никого не нашлось.</p>{{end}}{{end}}
</div>
{{with .Issued}}<div class="box" id="issued"><h2>Код привязки</h2>
<div class="code" id="code">{{groups .Code}}</div>
<p>Код показан один раз. Действует до {{when .ExpiresAt}}. Пациент вводит его в личном кабинете ONDOC.</p>
<p>Отправка: {{if .Delivered}}<b>доставлен в шлюз</b>{{else}}<b class="danger">не отправлен — продиктуйте код пациенту</b>{{end}}</p>
<ul>{{range .Attempts}}<li>{{channel .Channel}} {{.Dest}}: {{if .OK}}отправлено{{else}}<span class="danger">{{.Detail}}</span>{{end}}</li>{{end}}</ul>
</div>{{end}}
{{with .Resent}}<div class="box" id="resent"><h2>Код отправлен повторно</h2>
<ul>{{range .Attempts}}<li>{{channel .Channel}} {{.Dest}}: {{if .OK}}отправлено{{else}}<span class="danger">{{.Detail}}</span>{{end}}</li>{{end}}</ul></div>{{end}}
{{with .Status}}<div class="box" id="patient">
{{with .Patient}}<h2>{{.LastName}} {{.FirstName}} {{.MiddleName}}</h2>
<p>Дата рождения: {{birth .BirthDate}} · карта {{.CardNumber}} · телефон {{if .Phone}}{{.Phone}}{{else}}—{{end}} · e-mail {{if .Email}}{{.Email}}{{else}}—{{end}}</p>
{{else}}<h2>Пациент {{.PatientID}}</h2><p class="danger">{{.CardError}}</p>{{end}}
<p id="link">Привязка: {{if .Linked}}<b>привязан</b> с {{when .LinkAt}}{{else if .LinkKnown}}не привязан ({{.LinkNote}}, {{when .LinkAt}}){{else}}не привязан{{end}}</p>
{{with .Active}}<p id="active">Действующий код: выдан {{when .IssuedAt}} ({{.IssuedBy}}), действует до {{when .ExpiresAt}}.</p>{{else}}<p id="active">Действующего кода нет.</p>{{end}}
<div class="actions">
{{if .Patient}}<form method="post" action="/registrar/issue"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.PatientID}}"><button id="btn-issue">{{if .Active}}Выдать новый код{{else}}Выдать код{{end}}</button></form>{{end}}
{{if .Active}}<form method="post" action="/registrar/resend"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.PatientID}}"><button id="btn-resend">Отправить повторно</button></form>{{end}}
{{if or .Active .Linked}}<form method="post" action="/registrar/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.PatientID}}"><button id="btn-revoke" class="danger">Отозвать</button></form>{{end}}
</div>
{{if .Codes}}<h3>Коды</h3><table><tr><th>Выдан</th><th>Кем</th><th>Действует до</th><th>Состояние</th><th>Отправка</th></tr>
{{range .Codes}}<tr><td>{{when .IssuedAt}}</td><td>{{.IssuedBy}}</td><td>{{when .ExpiresAt}}</td><td>{{state .State}}</td>
<td>{{range .Attempts}}{{when .At}} {{channel .Channel}} {{.Dest}}: {{if .OK}}отправлено{{else}}<span class="danger">{{.Detail}}</span>{{end}}<br>{{end}}</td></tr>{{end}}</table>{{end}}
{{if .Audit}}<h3>Журнал</h3><table>{{range .Audit}}<tr><td>{{when .At}}</td><td>{{.Actor}}</td><td>{{action .Action}}</td><td>{{.Detail}}</td></tr>{{end}}</table>{{end}}
</div>{{end}}
{{end}}
</main></body></html>`
