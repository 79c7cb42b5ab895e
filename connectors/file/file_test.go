package file

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/connectors/conformance"
	"medsync/mapping"
)

func newConn(t *testing.T, opts map[string]string) *Connector {
	t.Helper()
	vals := map[string]string{"path": "out/events.jsonl", "fsync": "true"}
	for k, v := range opts {
		vals[k] = v
	}
	c, err := connectors.Lookup(Name).New(connectors.Env{Instance: "file", BaseDir: t.TempDir()}, connectors.NewValues("config.ini", "connector.file", vals))
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector)
}

func readLines(t *testing.T, path string) []Line {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ln Line
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, ln)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: Name,
		New: func(t *testing.T) *conformance.Instance {
			c := newConn(t, nil)
			return &conformance.Instance{
				Connector: c,
				Received: func(t *testing.T) []conformance.Received {
					var out []conformance.Received
					for _, ln := range readLines(t, c.Path()) {
						out = append(out, conformance.Received{Entity: ln.Entity, Op: ln.Op, Key: ln.Key, IdempotencyKey: ln.IdempotencyKey})
					}
					return out
				},
			}
		},
	})
}

func TestLineFormat(t *testing.T) {
	c := newConn(t, map[string]string{"fsync": "false"})
	msk := conformance.Moscow()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, msk)
	recs := conformance.Records()
	batch := conformance.Events("file", connectors.OpUpsert, recs[2:3], []string{"doctor"}, at)
	del := conformance.Events("file", connectors.OpDelete, recs[2:3], []string{"doctor"}, time.Date(2026, 11, 22, 7, 0, 0, 5e8, time.UTC))
	batch = append(batch, del...)
	batch[0].Data = json.RawMessage("{\n  \"id\": \"1043\",\n  \"last_name\": \"Иванова <&>\"\n}")
	for i, err := range c.Deliver(context.Background(), batch) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	raw, err := os.ReadFile(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", raw)
	}
	want0 := `{"entity":"doctor","op":"upsert","key":"1043","idempotency_key":"` + batch[0].IdempotencyKey + `","fingerprint":"` + batch[0].Fingerprint + `","at":"2026-11-22T10:00:00+03:00","data":{"id":"1043","last_name":"Иванова <&>"}}`
	if lines[0] != want0 {
		t.Errorf("upsert line:\n got %s\nwant %s", lines[0], want0)
	}
	want1 := `{"entity":"doctor","op":"delete","key":"1043","idempotency_key":"` + batch[1].IdempotencyKey + `","fingerprint":"` + batch[1].Fingerprint + `","at":"2026-11-22T07:00:00.5+00:00"}`
	if lines[1] != want1 {
		t.Errorf("delete line:\n got %s\nwant %s", lines[1], want1)
	}
	offset := regexp.MustCompile(`"at":"[^"]+[+-]\d\d:\d\d"`)
	for _, l := range lines {
		if !offset.MatchString(l) {
			t.Errorf("at has no explicit offset: %s", l)
		}
	}
}

func TestBadEvents(t *testing.T) {
	c := newConn(t, nil)
	good := conformance.Events("file", connectors.OpUpsert, conformance.Records(), []string{"slot"}, time.Now())[0]
	tests := []struct {
		name string
		ev   connectors.Event
		want string
	}{
		{"truncated data", connectors.Event{Entity: "patient", Op: connectors.OpUpsert, Key: "P-1", Data: json.RawMessage(`{"id":`)}, "patient P-1: the record data is not valid JSON"},
		{"no data", connectors.Event{Entity: "doctor", Op: connectors.OpUpsert, Key: "7"}, "doctor 7: the record data is not valid JSON"},
		{"unknown op", connectors.Event{Entity: "slot", Op: "merge", Key: "s1", Data: json.RawMessage(`{}`)}, `slot s1: unknown operation "merge"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := c.Deliver(context.Background(), []connectors.Event{tt.ev, good})
			if errs[0] == nil || !connectors.IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("got %v, want a permanent error containing %q", errs[0], tt.want)
			}
			if errs[1] != nil {
				t.Errorf("good event next to a bad one: %v", errs[1])
			}
		})
	}
	for _, ln := range readLines(t, c.Path()) {
		if ln.Key != good.Key {
			t.Errorf("a bad event was written: %+v", ln)
		}
	}
}

func TestWriteFailureIsTransient(t *testing.T) {
	c := newConn(t, nil)
	// A folder where the file should be: the open fails for every event.
	if err := os.MkdirAll(c.Path(), 0o755); err != nil {
		t.Fatal(err)
	}
	batch := conformance.Events("file", connectors.OpUpsert, conformance.Records(), []string{"doctor", "slot"}, time.Now())
	for i, err := range c.Deliver(context.Background(), batch) {
		if err == nil || connectors.IsPermanent(err) || !strings.Contains(err.Error(), c.Path()) {
			t.Errorf("event %d: got %v, want a transient error naming %s", i, err, c.Path())
		}
	}
	checks := c.Check(context.Background())
	if len(checks) != 1 || checks[0].Err == nil || checks[0].Hint == "" {
		t.Errorf("Check with a folder in place of the file: %+v", checks)
	}
}

func TestCheck(t *testing.T) {
	c := newConn(t, map[string]string{"path": "deep/er/events.jsonl"})
	checks := c.Check(context.Background())
	if len(checks) != 1 || checks[0].Err != nil || !strings.Contains(checks[0].Name, filepath.Dir(c.Path())) {
		t.Fatalf("Check: %+v", checks)
	}
	entries, err := os.ReadDir(filepath.Dir(c.Path()))
	if err != nil || len(entries) != 0 {
		t.Errorf("Check left files behind: %v %v", entries, err)
	}
}

func TestNew(t *testing.T) {
	base := t.TempDir()
	abs := filepath.Join(t.TempDir(), "x.jsonl")
	tests := []struct {
		name  string
		vals  map[string]string
		path  string
		fsync bool
		err   string
	}{
		{"relative", map[string]string{"path": "out/events.jsonl", "fsync": "true"}, filepath.Join(base, "out", "events.jsonl"), true, ""},
		{"absolute", map[string]string{"path": abs, "fsync": "no"}, abs, false, ""},
		{"empty path", map[string]string{"path": "", "fsync": "true"}, "", false, "config.ini: [connector.file] path: is required"},
		{"bad fsync", map[string]string{"path": "a", "fsync": "sometimes"}, "", false, `[connector.file] fsync: "sometimes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(connectors.Env{BaseDir: base}, connectors.NewValues("config.ini", "connector.file", tt.vals))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fc := c.(*Connector)
			if fc.path != tt.path || fc.fsync != tt.fsync {
				t.Errorf("path %q fsync %v", fc.path, fc.fsync)
			}
		})
	}
}

func TestConcurrentBatchesDoNotInterleave(t *testing.T) {
	c := newConn(t, map[string]string{"fsync": "false"})
	recs := conformance.Records()
	done := make(chan struct{})
	const n = 20
	for i := 0; i < n; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			batch := conformance.Events("file", connectors.OpUpsert, recs, mapping.Entities, time.Now())
			for _, err := range c.Deliver(context.Background(), batch) {
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	lines := readLines(t, c.Path())
	if len(lines) != n*len(recs) {
		t.Fatalf("got %d lines, want %d", len(lines), n*len(recs))
	}
	for i := 0; i < len(lines); i += len(recs) {
		for j, r := range recs {
			if lines[i+j].Key != r.RecordKey() {
				t.Fatalf("batches interleaved at line %d", i+j+1)
			}
		}
	}
}
