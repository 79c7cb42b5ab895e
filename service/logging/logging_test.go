package logging

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "medsync/connectors/file"
	_ "medsync/connectors/ondoc"
	"medsync/service/config"
)

const (
	misPassword = "Pg#Secret-9x"
	tokCompany  = "tok-company-5f1e2d3c"
	tokBranch   = "tok-branch-a9b8c7d6"
	envSecret   = "env-only-secret-42z"
	testCode    = "482913576"
)

// secretConfig writes a config whose DSN password and connector tokens are secrets,
// one of them coming from the environment.
func secretConfig(t *testing.T) *config.Config {
	t.Helper()
	t.Setenv("H6_TEST_BRANCH_TOKEN", tokBranch+envSecret)
	dir := t.TempDir()
	ini := fmt.Sprintf(`[service]
log_dir = logs
state_dir = state
log_max_size_mb = 1
log_max_files = 2

[mis]
driver = postgres
dsn = postgres://medsync:%s@127.0.0.1:5432/mis?sslmode=disable

[connector.ondoc]
server = https://ondoc.example/v1
token_company = %s
token_branch = ${env:H6_TEST_BRANCH_TOKEN}
`, strings.ReplaceAll(misPassword, "#", "%23"), tokCompany)
	return config.WriteForTest(t, dir, ini)
}

type fakeSystem struct{ lines []string }

func (f *fakeSystem) Error(v ...any) error            { f.lines = append(f.lines, fmt.Sprint(v...)); return nil }
func (f *fakeSystem) Warning(v ...any) error          { f.lines = append(f.lines, fmt.Sprint(v...)); return nil }
func (f *fakeSystem) Info(v ...any) error             { f.lines = append(f.lines, fmt.Sprint(v...)); return nil }
func (f *fakeSystem) Errorf(s string, v ...any) error { return f.Error(fmt.Sprintf(s, v...)) }
func (f *fakeSystem) Warningf(s string, v ...any) error {
	return f.Warning(fmt.Sprintf(s, v...))
}
func (f *fakeSystem) Infof(s string, v ...any) error { return f.Info(fmt.Sprintf(s, v...)) }

type stringer string

func (s stringer) String() string { return string(s) }

func TestLogFileHoldsNoSecret(t *testing.T) {
	cfg := secretConfig(t)
	secrets := config.Secrets(cfg)
	if len(secrets) < 3 {
		t.Fatalf("config.Secrets found %d secrets, want the DSN password and both tokens: %q", len(secrets), secrets)
	}
	var stderr strings.Builder
	sys := &fakeSystem{}
	l, err := New(cfg, Options{Stderr: &stderr, System: sys})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{misPassword, tokCompany, tokBranch + envSecret, testCode}
	for _, s := range all {
		l.Info("message with "+s, "value", s)
		l.Error("failed", "error", errors.New("auth failed for "+s))
		l.With("token", s).WithGroup("req").Warn("request", "header", "Bearer "+s, "obj", stringer("x"+s))
		l.Info("group", slog.Group("conn", slog.String("dsn", "postgres://u:"+s+"@h/db")))
		l.System("service started", "secret", s)
	}
	l.Info("link code issued", "code", 123456789, "spaced", "482 913 576", "dashed", "482-913-576")
	l.Info("harmless", "ms", 9876543210, "id", "12345678")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Service.LogDir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"log file": string(data), "stderr": stderr.String(), "system log": strings.Join(sys.lines, "\n")}
	for where, text := range outputs {
		if !strings.Contains(text, Mask) {
			t.Errorf("%s: no %s at all:\n%s", where, Mask, text)
		}
		for _, s := range append(all, secrets...) {
			if strings.Contains(text, s) {
				t.Errorf("%s contains secret %q:\n%s", where, s, text)
			}
		}
		for _, code := range []string{"123456789", "482 913 576", "482-913-576"} {
			if strings.Contains(text, code) {
				t.Errorf("%s contains link code %q", where, code)
			}
		}
	}
	for _, keep := range []string{"ms=9876543210", "id=12345678", "msg=\"message with ******\""} {
		if !strings.Contains(string(data), keep) {
			t.Errorf("log file lost %q:\n%s", keep, data)
		}
	}
	if len(sys.lines) == 0 || !strings.Contains(strings.Join(sys.lines, "\n"), "auth failed for ******") {
		t.Errorf("errors did not reach the system log: %q", sys.lines)
	}
}

func TestRedact(t *testing.T) {
	r := NewRedactor([]string{"ab", "abcdef", ""})
	for _, tc := range []struct{ in, want string }{
		{"x abcdef y", "x ****** y"},
		// A secret shorter than MinSecretLen is not masked: it would garble every
		// line with those letters (the config refuses such secrets at load).
		{"ab cab about", "ab cab about"},
		{"code 111222333 ok", "code ****** ok"},
		// Personal contact data a peer may echo.
		{"phone 89161234567", "phone ******"},
		{"tel +7 (916) 123-45-67, ok", "tel ******, ok"},
		{"mail ivanova.m@mail.ru rejected", "mail ****** rejected"},
		{"почта мария@почта.рф", "почта ******"},
		{"ms=9876543210 id=12345678", "ms=9876543210 id=12345678"},
		{"nothing", "nothing"},
	} {
		if got := r.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLogDirCannotBeCreated(t *testing.T) {
	cfg := secretConfig(t)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Service.LogDir = filepath.Join(blocker, "logs")
	_, err := New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "[service] log_dir") || !strings.Contains(err.Error(), cfg.File) {
		t.Fatalf("want an error naming the file and [service] log_dir, got %v", err)
	}
}

// TestRedactWithPersonalValues: the values of the record an error is about are masked
// too, in the spellings a peer may use, and short ones are left alone.
func TestRedactWithPersonalValues(t *testing.T) {
	data := []byte(`{"id":"900200","last_name":"Иванова","first_name":"Мария","middle_name":"Ли","birth_date":"1992-02-03","phone":"+79161112233","email":"m@x.ru","status":"booked"}`)
	pv := PersonalValues(data)
	in := `ondoc patient: HTTP 422: patient Иванова Мария Ли, born 03.02.1992 (1992-02-03), phone 79161112233, status booked, id 900200`
	got := NewRedactor(nil).RedactWith(in, pv)
	for _, leak := range []string{"Иванова", "Мария", "1992", "79161112233"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaks %q", got, leak)
		}
	}
	for _, keep := range []string{"HTTP 422", "status booked", "id 900200", " Ли,"} {
		if !strings.Contains(got, keep) {
			t.Errorf("%q lost %q", got, keep)
		}
	}
}
