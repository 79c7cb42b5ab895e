package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors"
	"medsync/connectors/conformance"
	natsconn "medsync/connectors/nats"
	"medsync/connectors/nats/natstest"
	"medsync/mapping"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// state is a hub's or a clinic's current records: "clinic|entity|key" → data JSON.
type state map[string]string

func openHub(t testing.TB) *Hub {
	t.Helper()
	h, err := Open(filepath.Join(t.TempDir(), "hub.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// rebuild catches a fresh hub (or h, when given) up with the stream through a new
// durable consumer, and returns its state.
func rebuild(t testing.TB, h *Hub, js jetstream.JetStream, stream, durable string) state {
	t.Helper()
	if h == nil {
		h = openHub(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cons, err := Consumer(ctx, js, stream, durable, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Pull(ctx, cons, 500, true); err != nil {
		t.Fatalf("hub: %v", err)
	}
	return current(t, h)
}

func current(t testing.TB, h *Hub) state {
	t.Helper()
	recs, err := h.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := state{}
	for _, r := range recs {
		out[r.Clinic+"|"+r.Entity+"|"+r.Key] = r.Data
	}
	return out
}

// sameState reports the first few differences between got and want. Free slots
// start from "now", so a slot starting within the next hour may pass between the two
// reads being compared: such slots are left out of both.
func sameState(t testing.TB, what string, got, want state) {
	t.Helper()
	cutoff := time.Now().Add(time.Hour)
	got, want = settled(got, cutoff), settled(want, cutoff)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, "missing "+k)
		} else if g != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s differs:\n  hub %s\n  MIS %s", k, g, want[k]))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "extra "+k)
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("… %d differences in all", len(diffs)))
		}
		t.Fatalf("%s: hub state (%d records) is not the MIS state (%d records):\n%s", what, len(got), len(want), joinLines(diffs))
	}
}

func settled(s state, cutoff time.Time) state {
	out := state{}
	for k, v := range s {
		if strings.Contains(k, "|slot|") {
			var sl struct {
				Start time.Time `json:"start"`
			}
			if json.Unmarshal([]byte(v), &sl) == nil && sl.Start.Before(cutoff) {
				continue
			}
		}
		out[k] = v
	}
	return out
}

func joinLines(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}

func newConnector(t testing.TB, url, stream, prefix, clinic string) *natsconn.Connector {
	t.Helper()
	spec := connectors.Lookup(natsconn.Name)
	m := map[string]string{}
	for _, o := range spec.Options {
		m[o.Name] = o.Default
	}
	for k, v := range map[string]string{"urls": url, "clinic": clinic, "subject_prefix": prefix, "stream": stream, "create_stream": "true", "timeout": "5s"} {
		m[k] = v
	}
	c, err := spec.New(connectors.Env{Instance: "nats", Logger: quiet}, connectors.NewValues("config.ini", "connector.nats", m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*natsconn.Connector)
}

func deliver(t testing.TB, c *natsconn.Connector, evs ...connectors.Event) {
	t.Helper()
	for i, err := range c.Deliver(context.Background(), evs) {
		if err != nil {
			t.Fatalf("%s %s: %v", evs[i].Entity, evs[i].Key, err)
		}
	}
}

// TestHubRebuildsClinics: two clinics' upserts, deletes, an A → B → A change and
// resends; the hub's state is what the events say, and a second consumer replaying
// the whole stream into the same database (every message delivered again) changes
// nothing.
func TestHubRebuildsClinics(t *testing.T) {
	url := natstest.URL(t)
	stream, prefix := natstest.Names(t, url)
	js := natstest.JetStream(t, url)
	at := time.Now().Truncate(time.Second)
	recs := conformance.Records()
	want := state{}
	for _, clinic := range []string{"c1", "c2"} {
		c := newConnector(t, url, stream, prefix, clinic)
		ups := conformance.Events(natsconn.Name, connectors.OpUpsert, recs, mapping.Entities, at)
		deliver(t, c, ups...)
		deliver(t, c, ups...) // a resend: dropped by the stream
		for _, ev := range ups {
			want[clinic+"|"+ev.Entity+"|"+ev.Key] = string(ev.Data)
		}
	}
	c1 := newConnector(t, url, stream, prefix, "c1")
	del := conformance.Events(natsconn.Name, connectors.OpDelete, recs[7:8], mapping.Entities, at.Add(time.Minute))
	deliver(t, c1, del...)
	delete(want, "c1|slot|"+recs[7].RecordKey())
	doc := *recs[2].(*mapping.Doctor)
	doc.LastName = "Петрова"
	b := conformance.Events(natsconn.Name, connectors.OpUpsert, []mapping.Record{&doc}, mapping.Entities, at.Add(2*time.Minute))
	a := conformance.Events(natsconn.Name, connectors.OpUpsert, recs[2:3], mapping.Entities, at.Add(3*time.Minute))
	deliver(t, c1, b...)
	deliver(t, c1, a...)

	h := openHub(t)
	sameState(t, "first consumer", rebuild(t, h, js, stream, "first"), want)
	sameState(t, "replay into the same database", rebuild(t, h, js, stream, "replay"), want)
	sameState(t, "a fresh hub", rebuild(t, nil, js, stream, "fresh"), want)
}

// TestOlderNeverOverwritesNewer: changes applied out of stream order converge on the
// one with the highest sequence, and a tombstone holds against an older upsert.
func TestOlderNeverOverwritesNewer(t *testing.T) {
	h := openHub(t)
	ctx := context.Background()
	up := func(seq uint64, data string) change {
		return change{clinic: "c1", entity: "doctor", key: "7", op: "upsert", seq: seq, data: data, fingerprint: "f", at: "x"}
	}
	del := change{clinic: "c1", entity: "doctor", key: "7", op: "delete", seq: 30, fingerprint: "f", at: "x"}
	steps := []struct {
		c    change
		want string // "" = no current record
	}{
		{up(20, `{"v":20}`), `{"v":20}`},
		{up(10, `{"v":10}`), `{"v":20}`},
		{up(20, `{"v":20}`), `{"v":20}`},
		{del, ""},
		{up(25, `{"v":25}`), ""},
		{up(40, `{"v":40}`), `{"v":40}`},
	}
	for i, s := range steps {
		if err := h.write(ctx, []change{s.c}, nil); err != nil {
			t.Fatal(err)
		}
		got := current(t, h)["c1|doctor|7"]
		if got != s.want {
			t.Fatalf("step %d (seq %d %s): current %q, want %q", i, s.c.seq, s.c.op, got, s.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ subject, body string }{
		{"medsync.c1.doctor", `{}`},
		{"medsync.c1.doctor.upsert", `not json`},
		{"medsync.c1.doctor.upsert", `{"entity":"slot","op":"upsert","key":"1","data":{}}`},
		{"medsync.c1.doctor.upsert", `{"entity":"doctor","op":"upsert","key":"1"}`},
		{"medsync.c1.doctor.upsert", `{"entity":"doctor","op":"upsert","data":{}}`},
	} {
		if _, err := decode(tc.subject, 1, []byte(tc.body)); err == nil {
			t.Errorf("%s %s: accepted", tc.subject, tc.body)
		}
	}
	c, err := decode("region.tula.medsync.c9.slot.delete", 5, []byte(`{"entity":"slot","op":"delete","key":"s1","fingerprint":"f","at":"t"}`))
	if err != nil || c.clinic != "c9" || c.key != "s1" || c.seq != 5 {
		t.Fatalf("multi-token prefix: %+v %v", c, err)
	}
}
