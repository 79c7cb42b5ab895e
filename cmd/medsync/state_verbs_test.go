package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medsync/service/store"
)

type eventLine struct {
	Entity string `json:"entity"`
	Op     string `json:"op"`
	Key    string `json:"key"`
	Idem   string `json:"idempotency_key"`
}

func readEvents(t *testing.T, path string) []eventLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []eventLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l eventLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func shippedConfig(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	sample, err := os.ReadFile("../../config.ini")
	if err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfg, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// TestSecondProcessIsRefused: while another process holds the state directory
// (here: a store opened by this test, as the service would), `once` and the writing
// verbs exit at once naming the holder; the read-only verbs run alongside.
func TestSecondProcessIsRefused(t *testing.T) {
	dir, cfg := shippedConfig(t)
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once: %d\n%s\n%s", code, out, errs)
	}
	held, err := store.Open(context.Background(), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, args := range [][]string{{"once"}, {"dlq", "replay"}, {"deletions", "confirm"}, {"state", "restore"}} {
		code, _, errs := medsync(t, append([]string{"-c", cfg}, args...)...)
		if code != 1 || !strings.Contains(errs, "is in use by another medsync process") || !strings.Contains(errs, "pid ") {
			t.Errorf("%v beside a running medsync: exit %d\n%s", args, code, errs)
		}
	}
	for _, args := range [][]string{{"dlq", "list"}, {"deletions", "list"}, {"queue", "list"}, {"state", "check"}, {"state", "backup"}} {
		if code, out, errs := medsync(t, append([]string{"-c", cfg}, args...)...); code != 0 {
			t.Errorf("%v beside a running medsync: exit %d\n%s\n%s", args, code, out, errs)
		}
	}
}

// TestRestoreKeepsDeletionsMadeSince: a backup, then an appointment hard-deleted in
// the MIS and the delete sent; the store is damaged and restored from the backup: the
// next `once` sends that delete again (same idempotency key) — nothing the MIS did
// since the backup is lost. A rebuild from an empty store would never send it.
func TestRestoreKeepsDeletionsMadeSince(t *testing.T) {
	dir, cfg := shippedConfig(t)
	events := filepath.Join(dir, "out", "events.jsonl")
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once: %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := medsync(t, "-c", cfg, "state", "backup"); code != 0 || !strings.Contains(out, "backup made") {
		t.Fatalf("state backup: %d\n%s\n%s", code, out, errs)
	}
	var victim string
	for _, l := range readEvents(t, events) {
		if l.Entity == "appointment" && l.Op == "upsert" {
			victim = l.Key
			break
		}
	}
	mis, err := sql.Open("sqlite", filepath.Join(dir, "demo", "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer mis.Close()
	for _, q := range []string{`DELETE FROM SCHEDSERV WHERE SCHEDID = ?`, `DELETE FROM SCHEDULE WHERE SCHEDID = ?`} {
		if _, err := mis.Exec(q, victim); err != nil {
			t.Fatal(err)
		}
	}
	before := len(readEvents(t, events))
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once after the delete: %d\n%s\n%s", code, out, errs)
	}
	sent := deletesOf(readEvents(t, events)[before:], victim)
	if len(sent) != 1 {
		t.Fatalf("delete of %s sent %d times", victim, len(sent))
	}

	// The store is damaged: medsync says to restore, not to delete it.
	statePath := filepath.Join(dir, "state", store.FileName)
	corrupt(t, statePath)
	code, _, errs := medsync(t, "-c", cfg, "once")
	if code == 0 || !strings.Contains(errs, "medsync state restore") || strings.Contains(errs, "can be deleted") {
		t.Fatalf("once on a damaged store: %d\n%s", code, errs)
	}
	if code, out, _ := medsync(t, "-c", cfg, "state", "check"); code != 1 || !strings.Contains(out, "is damaged") {
		t.Fatalf("state check of a damaged store: %d\n%s", code, out)
	}
	if code, out, errs := medsync(t, "-c", cfg, "state", "restore"); code != 0 || !strings.Contains(out, "restored from") {
		t.Fatalf("state restore: %d\n%s\n%s", code, out, errs)
	}
	before = len(readEvents(t, events))
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once after the restore: %d\n%s\n%s", code, out, errs)
	}
	again := deletesOf(readEvents(t, events)[before:], victim)
	if len(again) != 1 || again[0].Idem != sent[0].Idem {
		t.Fatalf("after the restore the delete of %s went out %d times (%v), want once with key %s", victim, len(again), again, sent[0].Idem)
	}
	if code, out, _ := medsync(t, "-c", cfg, "state", "check"); code != 0 || !strings.Contains(out, "integrity check ok") {
		t.Fatalf("state check after the restore: %d\n%s", code, out)
	}
}

func deletesOf(ls []eventLine, key string) []eventLine {
	var out []eventLine
	for _, l := range ls {
		if l.Entity == "appointment" && l.Op == "delete" && l.Key == key {
			out = append(out, l)
		}
	}
	return out
}

// corrupt overwrites the file past its SQLite header and drops its WAL.
func corrupt(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < len(b); i++ {
		b[i] = 0x5A
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(path + "-wal")
	_ = os.Remove(path + "-shm")
}

// TestDLQListIsRedacted: a dead letter stored unmasked (by an older medsync) shows
// through the log's redaction: no link code, e-mail or phone of a patient.
func TestDLQListIsRedacted(t *testing.T) {
	dir, cfg := shippedConfig(t)
	if code, out, errs := medsync(t, "-c", cfg, "once"); code != 0 {
		t.Fatalf("once: %d\n%s\n%s", code, out, errs)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "state", store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO dead_letters(connector, entity, key, op, idem, fp, at, data, attempts, reason, failed_at)
		VALUES('file', 'patient', '900200', 'upsert', 'k', 'f', '2026-03-10T09:00:00Z', NULL, 1, ?, '2026-03-10T09:00:00Z')`,
		"HTTP 422: patient maria@mail.ru +79161112233 code 482-913-576 rejected")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := medsync(t, "-c", cfg, "dlq", "list")
	if code != 0 || !strings.Contains(out, "HTTP 422: patient ****** ****** code ****** rejected") {
		t.Fatalf("dlq list: %d\n%s\n%s", code, out, errs)
	}
}
