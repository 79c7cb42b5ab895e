package linkcodes

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"medsync/mapping/demo"
)

type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, e *testEnv) *browser {
	mux := http.NewServeMux()
	mux.Handle(Prefix, e.svc.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}, base: srv.URL}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(body))
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(body))
}

var (
	preRe  = regexp.MustCompile(`name="pre" value="([0-9a-f]+)"`)
	csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
	codeRe = regexp.MustCompile(`<div class="code" id="code">(\d{3} \d{3} \d{3})</div>`)
)

func (b *browser) login(user, pass string) (int, string) {
	b.t.Helper()
	_, page := b.get(Prefix)
	m := preRe.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no sign-in form:\n%s", page)
	}
	return b.post(Prefix+"login", url.Values{"pre": {m[1]}, "user": {user}, "password": {pass}})
}

func TestRegistrarPageFlow(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900200, "Иванова", "Мария", "1992-02-03", "+79161112233", "maria@mail.ru", 0)
	b := newBrowser(t, e)

	// Not signed in: every page leads to the sign-in form; POSTs are refused.
	if code, page := b.get(Prefix + "patient?id=900200"); code != 200 || !strings.Contains(page, "Вход для регистратора") {
		t.Fatalf("patient page without a session: %d", code)
	}
	if code, page := b.login("anna", "wrong password"); code != http.StatusUnauthorized || !strings.Contains(page, "Неверное имя пользователя или пароль") {
		t.Fatalf("wrong password: %d", code)
	}
	if code, page := b.login("anna", testPassword); code != 200 || !strings.Contains(page, "Поиск пациента") {
		t.Fatalf("sign-in: %d\n%s", code, page)
	}
	u, _ := url.Parse(b.base + Prefix)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == SessionCookie && len(c.Value) != 64 {
			t.Errorf("session token %q is not 32 random bytes", c.Value)
		}
	}

	_, page := b.get(Prefix + "?q=" + url.QueryEscape("Иванова М"))
	if !strings.Contains(page, `href="/registrar/patient?id=900200"`) || !strings.Contains(page, "03.02.1992") {
		t.Fatalf("search: %s", page)
	}
	_, page = b.get(Prefix + "patient?id=900200")
	csrf := csrfRe.FindStringSubmatch(page)
	if csrf == nil || !strings.Contains(page, "Действующего кода нет") || !strings.Contains(page, "не привязан") {
		t.Fatalf("patient page: %s", page)
	}
	// Forms need the CSRF token.
	if code, _ := b.post(Prefix+"issue", url.Values{"id": {"900200"}}); code != http.StatusForbidden {
		t.Fatalf("issue without CSRF token: %d", code)
	}
	code, page := b.post(Prefix+"issue", url.Values{"id": {"900200"}, "csrf": {csrf[1]}})
	m := codeRe.FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("issue: %d\n%s", code, page)
	}
	issued := strings.ReplaceAll(m[1], " ", "")
	if issued != e.reg.code("900200") || !strings.Contains(page, "SMS +7916***2233: отправлено") {
		t.Fatalf("issued %s, registered %s\n%s", issued, e.reg.code("900200"), page)
	}
	// The code is shown once: the patient page does not show it again.
	_, page = b.get(Prefix + "patient?id=900200")
	if strings.Contains(page, issued) || strings.Contains(page, m[1]) || !strings.Contains(page, "Действующий код: выдан") {
		t.Fatalf("patient page after issue shows the code or no active code:\n%s", page)
	}
	code, page = b.post(Prefix+"resend", url.Values{"id": {"900200"}, "csrf": {csrf[1]}})
	if code != 200 || !strings.Contains(page, "Код отправлен повторно") || strings.Contains(page, issued) {
		t.Fatalf("resend: %d\n%s", code, page)
	}
	if msgs := e.sms.messages(); len(msgs) != 2 || !strings.Contains(msgs[1].Text, issued) {
		t.Fatalf("resend did not send the same code: %+v", msgs)
	}
	code, page = b.post(Prefix+"revoke", url.Values{"id": {"900200"}, "csrf": {csrf[1]}})
	if code != 200 || !strings.Contains(page, "Код отозван, привязка снята") || !strings.Contains(page, "отозван") {
		t.Fatalf("revoke: %d\n%s", code, page)
	}
	// Bad input: unknown patient, incomplete card.
	e.addPatient(900201, "Пустова", "Ольга", "", "", "", 0)
	if code, page := b.post(Prefix+"issue", url.Values{"id": {"900201"}, "csrf": {csrf[1]}}); code != 422 || !strings.Contains(page, "Не хватает: дата рождения, телефон или e-mail") {
		t.Fatalf("incomplete card: %d\n%s", code, page)
	}
	if code, page := b.post(Prefix+"issue", url.Values{"id": {"123456"}, "csrf": {csrf[1]}}); code != 404 || !strings.Contains(page, "не найден") {
		t.Fatalf("unknown patient: %d\n%s", code, page)
	}
	// Sign out ends the session.
	b.post(Prefix+"logout", url.Values{"csrf": {csrf[1]}})
	if _, page := b.get(Prefix + "patient?id=900200"); !strings.Contains(page, "Вход для регистратора") {
		t.Fatal("still signed in after sign-out")
	}
	assertNoCode(t, e, issued)
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil) // 3 failures lock for 1m, then 2m, … at most 10m
	b := newBrowser(t, e)
	for i := range 3 {
		if code, _ := b.login("anna", "nope"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code, page := b.login("anna", testPassword); code != http.StatusTooManyRequests || !strings.Contains(page, "Повторите через 1 мин.") {
		t.Fatalf("locked out user signed in: %d", code)
	}
	// The lock is per (user, address): another name from the same address is still
	// checked (the address itself locks only after 3 × login_max_failures).
	if code, _ := b.login("boris", "x"); code != http.StatusUnauthorized {
		t.Fatalf("another user name from the same address: %d", code)
	}
	e.clock.add(61 * time.Second)
	for range 3 {
		b.login("anna", "nope")
	}
	if _, page := b.login("anna", testPassword); !strings.Contains(page, "Повторите через 2 мин.") {
		t.Fatal("second lock-out is not doubled")
	}
	e.clock.add(121 * time.Second)
	if code, _ := b.login("anna", testPassword); code != 200 {
		t.Fatalf("after the lock-out: %d", code)
	}
	if !strings.Contains(e.logs.String(), "registrar sign-in refused: locked out") {
		t.Error("lock-out not logged")
	}
	if strings.Contains(e.logs.String(), testPassword) || strings.Contains(e.logs.String(), "nope") {
		t.Error("a password reached the log")
	}
}

// TestRegistrarPageChromium renders the sign-in page and a signed-in patient page with
// a code in headless Chromium (the session cookie is set through a redirect endpoint
// of the test server).
func TestRegistrarPageChromium(t *testing.T) {
	bin := chromiumBin(t)
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900300, "Хромова", "Вера", "1992-02-03", "+79161112299", "", 0)
	ctx := context.Background()
	srv := signedInServer(t, e, "anna", Prefix+"patient?id=900300")
	if _, err := e.svc.Issue(ctx, "900300", "anna"); err != nil {
		t.Fatal(err)
	}
	dom := chromiumDump(t, bin, srv.URL+Prefix)
	if !strings.Contains(dom, "Вход для регистратора") || !strings.Contains(dom, `name="password"`) {
		t.Fatalf("sign-in page in Chromium:\n%s", dom)
	}
	dom = chromiumDump(t, bin, srv.URL+"/test-signin")
	for _, want := range []string{"Хромова Вера", "Действующий код: выдан", "Отправить повторно", "Отозвать", "SMS +7916***2299"} {
		if !strings.Contains(dom, want) {
			t.Errorf("patient page in Chromium lacks %q:\n%s", want, dom)
		}
	}
}

// chromiumBin is Debian's chromium; the test is skipped without it, outside CI.
func chromiumBin(t *testing.T) string {
	t.Helper()
	bin := "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (CI=true: install Debian's chromium)", bin)
		}
		t.Skipf("%s is missing; install chromium to run this test", bin)
	}
	return bin
}

// signedInServer serves the registrar page with /test-signin, which signs user in
// (a session cookie, as the sign-in form would set) and redirects to then.
func signedInServer(t *testing.T, e *testEnv, user, then string) *httptest.Server {
	t.Helper()
	token, err := e.svc.NewSession(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, e.svc.Handler())
	mux.HandleFunc("/test-signin", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, then, http.StatusSeeOther)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// chromiumDump is the DOM headless Chromium builds for u.
func chromiumDump(t *testing.T, bin, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+filepath.Join(t.TempDir(), "profile"),
		"--dump-dom", u).Output()
	if err != nil {
		t.Fatalf("chromium %s: %v", u, err)
	}
	return string(out)
}
