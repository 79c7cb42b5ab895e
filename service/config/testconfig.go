package config

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteForTest writes text as config.ini into dir and loads it, failing the test on
// any error. It is for the tests of packages that need a real config.
func WriteForTest(t testing.TB, dir, text string) *Config {
	t.Helper()
	p := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
