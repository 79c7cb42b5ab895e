package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// deletions list: counts per entity first, the keys on request, times local with the
// offset.
func TestDeletionsListSummary(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../config.ini")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfg, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once: %d\n%s\n%s", code, out, errs)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "demo", "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM CLIENTS`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	medsync(t, "-c", cfg, "once") // holds the patients' deletions (its exit code is the guard's business)
	code, out, errs := medsync(t, "-c", cfg, "deletions", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^patient\s+\d{3,}\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+03:00`).MatchString(out) ||
		!strings.Contains(out, "medsync deletions list ENTITY") || strings.Count(out, "\n") > 10 {
		t.Fatalf("deletions list: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = medsync(t, "-c", cfg, "deletions", "list", "patient")
	if code != 0 || strings.Count(out, "\npatient ") < 100 || !strings.Contains(out, "+03:00") {
		t.Fatalf("deletions list patient: %d\n%.2000s", code, out)
	}
}
