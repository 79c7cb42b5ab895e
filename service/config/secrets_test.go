package config

import (
	"slices"
	"strings"
	"testing"
)

// TestURLPasswordIsASecret: the password inside any URL setting — the DSN, a
// connector option, [linkcodes] sms_url — is a secret: listed for the log's
// redaction and masked by Show.
func TestURLPasswordIsASecret(t *testing.T) {
	cfg, err := Load(write(t, `[mis]
driver = postgres
dsn = postgres://u:dsn-secret@h/db

[linkcodes]
sms_url = https://sms:gw-secret@sms.example/send

[connector.peer]
type = testpeer
server = https://api:srv-secret@peer.example/v1
`))
	if err != nil {
		t.Fatal(err)
	}
	sec := Secrets(cfg)
	for _, want := range []string{"dsn-secret", "gw-secret", "srv-secret"} {
		if !slices.Contains(sec, want) {
			t.Errorf("Secrets %q lacks %q", sec, want)
		}
	}
	show := cfg.Show()
	for _, leak := range []string{"dsn-secret", "gw-secret", "srv-secret"} {
		if strings.Contains(show, leak) {
			t.Errorf("Show leaks %q", leak)
		}
	}
	if !strings.Contains(show, "server = https://api:******@peer.example/v1") {
		t.Errorf("Show:\n%s", show)
	}
}

// TestShortSecretsAreRefused: a secret shorter than MinSecretLen stops the load with
// the file, section and key — wherever it is set.
func TestShortSecretsAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, text, where string }{
		{"dsn", "[mis]\ndriver = postgres\ndsn = postgres://u:pw@h/db\n", "[mis] dsn: the secret (password or token) is 2 characters long; at least 4 are required"},
		{"option", minimal + "[connector.peer]\ntype = testpeer\nserver = x\ntoken = abc\n", "[connector.peer] token: the secret (password or token) is 3 characters long"},
		{"pattern", minimal + "[connector.peer]\ntype = testpeer\nserver = x\norg.1.password = q\n", "[connector.peer] org.1.password: the secret"},
		{"url", minimal + "[connector.peer]\ntype = testpeer\nserver = https://u:x@h/\n", "[connector.peer] server: the secret"},
		{"smtp", minimal + "[linkcodes]\nsmtp_password = 12\n", "[linkcodes] smtp_password: the secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, tc.text)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.where) || !strings.Contains(err.Error(), path) {
				t.Fatalf("want %q naming %s, got %v", tc.where, path, err)
			}
		})
	}
	// Four characters are enough.
	if _, err := Load(write(t, minimal+"[connector.peer]\ntype = testpeer\nserver = x\ntoken = abcd\n")); err != nil {
		t.Fatal(err)
	}
}
