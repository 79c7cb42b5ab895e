package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medsync/mapping"
)

// `medsync test` shows the canonical records of the first N rows per entity and where
// they would go, and touches nothing: no state folder, no events file.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../config.ini")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfg, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := medsync(t, "-c", cfg, "demo", "init"); code != 0 {
		t.Fatalf("demo init: %d %s %s", code, out, errs)
	}
	code, out, errs := medsync(t, "-c", cfg, "test", "-n", "3", "-json")
	if code != 0 {
		t.Fatalf("test: exit %d\n%s\n%s", code, out, errs)
	}
	per := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Entity string          `json:"entity"`
			Key    string          `json:"key"`
			Data   json.RawMessage `json:"data"`
			To     []string        `json:"to"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON record: %q: %v", line, err)
		}
		if r.Key == "" || len(r.Data) == 0 || len(r.To) != 1 || r.To[0] != "file" {
			t.Errorf("record %q", line)
		}
		per[r.Entity]++
	}
	for _, e := range mapping.Entities {
		if per[e] != 3 {
			t.Errorf("%s: %d records, want 3 (-n 3)", e, per[e])
		}
	}
	for _, p := range []string{"state", "out"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("the dry run created %s/", p)
		}
	}

	code, out, _ = medsync(t, "-c", cfg, "test", "doctor", "-n", "1")
	if code != 0 || !strings.Contains(out, "doctor ") || !strings.Contains(out, "→ file") || strings.Contains(out, "appointment ") ||
		!strings.Contains(out, "ENTITY") {
		t.Errorf("test doctor -n 1: exit %d\n%s", code, out)
	}
	if code, _, errs := medsync(t, "-c", cfg, "test", "nosuch"); code == 0 || !strings.Contains(errs, "unknown entity") {
		t.Errorf("unknown entity: exit %d %s", code, errs)
	}
}
