package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medsync/mapping"
)

func medsync(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionUsageUnknownVerb(t *testing.T) {
	if code, out, _ := medsync(t, "version"); code != 0 || !strings.HasPrefix(out, "medsync ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, _, errs := medsync(t, "frobnicate")
	if code != 2 || !strings.Contains(errs, `unknown verb "frobnicate"`) || !strings.Contains(errs, "Verbs:") {
		t.Fatalf("unknown verb: %d %q", code, errs)
	}
	if code, _, _ := medsync(t); code != 2 {
		t.Fatalf("no verb: exit %d", code)
	}
}

// TestShippedConfigOnce is the README's first command in a fresh folder: the shipped
// config.ini creates the demo MIS, one `once` writes events, a second adds none.
func TestShippedConfigOnce(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../config.ini")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfg, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := medsync(t, "-c", cfg, "once")
	if code != 0 {
		t.Fatalf("once: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "appointment") || !strings.Contains(out, "connector file: delivered") {
		t.Fatalf("once printed no summary:\n%s", out)
	}
	events := filepath.Join(dir, "out", "events.jsonl")
	first, err := os.ReadFile(events)
	if err != nil || bytes.Count(first, []byte("\n")) < 1000 {
		t.Fatalf("events file: %v, %d lines", err, bytes.Count(first, []byte("\n")))
	}
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 || !strings.Contains(out, "delivered 0,") {
		t.Fatalf("second once: exit %d\n%s\n%s", code, out, errs)
	}
	second, _ := os.ReadFile(events)
	if len(second) != len(first) {
		t.Fatalf("an unchanged MIS added %d bytes of events", len(second)-len(first))
	}
	if code, out, _ := medsync(t, "-c", cfg, "dlq", "list"); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("dlq list: %d %q", code, out)
	}
	if code, out, _ := medsync(t, "-c", cfg, "deletions", "list"); code != 0 || !strings.Contains(out, "no held deletions") {
		t.Fatalf("deletions list: %d %q", code, out)
	}
}

// TestOnceFailsWhenTheMISCannotBeRead: a MIS database without the profile's tables
// makes `once` exit 1 and say which entities failed.
func TestOnceFailsWhenTheMISCannotBeRead(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.ini")
	ini := "[service]\nstate_dir = state\n[mis]\ndriver = sqlite\ndsn = empty.db\nprofile = demo\n[connector.file]\npath = out/events.jsonl\n"
	if err := os.WriteFile(cfg, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := medsync(t, "-c", cfg, "once")
	if code != 1 || !strings.Contains(errs, "not everything succeeded") || !strings.Contains(errs, "appointment") {
		t.Fatalf("once on a MIS without tables: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestProfileExport writes the views profile into a folder; the folder loads as a
// profile, and a second export refuses to overwrite it.
func TestProfileExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mymis")
	code, out, errs := medsync(t, "profile", "export", "views", dir)
	if code != 0 || !strings.Contains(out, "common.sql") {
		t.Fatalf("export: %d %q %q", code, out, errs)
	}
	if _, err := mapping.LoadProfile(dir); err != nil {
		t.Fatalf("the exported profile does not load: %v", err)
	}
	if code, _, errs := medsync(t, "profile", "export", "views", dir); code == 0 || !strings.Contains(errs, "already exists") {
		t.Fatalf("second export: %d %q", code, errs)
	}
	if code, _, errs := medsync(t, "profile", "export", "nosuch", t.TempDir()); code == 0 || !strings.Contains(errs, "shipped: demo, views") {
		t.Fatalf("unknown profile: %d %q", code, errs)
	}
}

// TestQueueOfARemovedConnector: events queued for a connector that then leaves the
// config are shown, reported by check, and dropped on request; the connector, put
// back, gets the current state once.
func TestQueueOfARemovedConnector(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../config.ini")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.ini")
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(blocked, 0o755); err != nil { // a folder where a file should be: every write fails
		t.Fatal(err)
	}
	second := "\n[connector.archive]\ntype = file\npath = blocked\nentities = doctor\n"
	write := func(extra string) {
		if err := os.WriteFile(cfg, append(append([]byte{}, sample...), extra...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(second)
	if code, _, _ := medsync(t, "-c", cfg, "once"); code != 1 {
		t.Fatalf("once with a failing connector: exit %d, want 1", code)
	}
	write("") // the archive connector leaves the config
	code, out, _ := medsync(t, "-c", cfg, "queue", "list")
	if code != 0 || !strings.Contains(out, "archive") || !strings.Contains(out, "no: medsync queue drop archive") {
		t.Fatalf("queue list: %d\n%s", code, out)
	}
	if code, out, _ := medsync(t, "-c", cfg, "check"); code == 0 || !strings.Contains(out, "medsync queue drop archive") {
		t.Fatalf("check did not report the orphaned queue: %d\n%s", code, out)
	}
	if code, out, errs := medsync(t, "-c", cfg, "queue", "drop", "archive"); code != 0 || !strings.Contains(out, "dropped") {
		t.Fatalf("queue drop: %d %s %s", code, out, errs)
	}
	if code, out, _ := medsync(t, "-c", cfg, "queue", "list"); code != 0 || strings.Contains(out, "archive") {
		t.Fatalf("after drop: %d\n%s", code, out)
	}
	// Back, now writable: it gets the doctors once.
	if err := os.Remove(blocked); err != nil {
		t.Fatal(err)
	}
	write(second)
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once: %d\n%s\n%s", code, out, errs)
	}
	b, err := os.ReadFile(blocked)
	if err != nil || !strings.Contains(string(b), `"entity":"doctor"`) {
		t.Fatalf("the returning connector did not get the doctors: %v", err)
	}
	// Refuses to drop an enabled connector's queue.
	if code, _, errs := medsync(t, "-c", cfg, "queue", "drop", "archive"); code == 0 || !strings.Contains(errs, "is enabled") {
		t.Fatalf("dropping an enabled connector's queue: %d %s", code, errs)
	}
}
