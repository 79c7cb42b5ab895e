package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors"
	"medsync/connectors/conformance"
	"medsync/connectors/file"
	"medsync/connectors/nats/natstest"
	"medsync/mapping"
)

// values fills the registry defaults and then opts, as the config loader does.
func values(opts map[string]string) *connectors.Values {
	m := map[string]string{}
	for _, o := range options {
		m[o.Name] = o.Default
	}
	for k, v := range opts {
		m[k] = v
	}
	return connectors.NewValues("config.ini", "connector.nats", m)
}

func newConn(t *testing.T, opts map[string]string) *Connector {
	t.Helper()
	c, err := New(connectors.Env{Instance: "nats", BaseDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, values(opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Connector)
}

// fixture is one connector on its own stream and prefix of the shared server.
type fixture struct {
	url, stream, prefix string
	js                  jetstream.JetStream
}

func newFixture(t *testing.T) *fixture {
	url := natstest.URL(t)
	stream, prefix := natstest.Names(t, url)
	return &fixture{url: url, stream: stream, prefix: prefix, js: natstest.JetStream(t, url)}
}

func (f *fixture) opts(extra map[string]string) map[string]string {
	m := map[string]string{"urls": f.url, "clinic": "c1", "subject_prefix": f.prefix, "stream": f.stream, "create_stream": "true", "timeout": "3s"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (f *fixture) lines(t *testing.T) []file.Line {
	t.Helper()
	var out []file.Line
	for _, m := range natstest.Messages(t, f.js, f.stream) {
		var ln file.Line
		if err := json.Unmarshal(m.Data, &ln); err != nil {
			t.Fatalf("message %d body is not a JSON line: %v: %s", m.Sequence, err, m.Data)
		}
		out = append(out, ln)
	}
	return out
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: Name,
		New: func(t *testing.T) *conformance.Instance {
			f := newFixture(t)
			proxy := natstest.NewProxy(t, f.url)
			c := newConn(t, f.opts(map[string]string{"urls": proxy.URL()}))
			return &conformance.Instance{
				Connector: c,
				Received: func(t *testing.T) []conformance.Received {
					var out []conformance.Received
					for _, ln := range f.lines(t) {
						out = append(out, conformance.Received{Entity: ln.Entity, Op: ln.Op, Key: ln.Key, IdempotencyKey: ln.IdempotencyKey})
					}
					return out
				},
				Stall: func(t *testing.T) func() {
					// Connect and create the stream first, so the stall hits publishing.
					if _, _, err := c.ready(context.Background()); err != nil {
						t.Fatal(err)
					}
					return proxy.Stall()
				},
			}
		},
	})
}

func events(at time.Time) []connectors.Event {
	return conformance.Events(Name, connectors.OpUpsert, conformance.Records(), mapping.Entities, at)
}

// TestMessageContract checks subject, headers and body of every message against the
// README's contract: the body is byte for byte the file connector's line.
func TestMessageContract(t *testing.T) {
	f := newFixture(t)
	c := newConn(t, f.opts(nil))
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, conformance.Moscow())
	batch := append(events(at), conformance.Events(Name, connectors.OpDelete, conformance.Records()[:1], mapping.Entities, at)...)
	for i, err := range c.Deliver(context.Background(), batch) {
		if err != nil {
			t.Fatalf("%s %s: %v", batch[i].Entity, batch[i].Key, err)
		}
	}
	msgs := natstest.Messages(t, f.js, f.stream)
	if len(msgs) != len(batch) {
		t.Fatalf("stream holds %d messages, want %d", len(msgs), len(batch))
	}
	for i, m := range msgs {
		ev := batch[i]
		if want := f.prefix + ".c1." + ev.Entity + "." + ev.Op; m.Subject != want {
			t.Errorf("message %d subject %q, want %q", i, m.Subject, want)
		}
		var line bytes.Buffer
		if err := file.Encode(&line, ev); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(m.Data, '\n'), line.Bytes()) {
			t.Errorf("message %d body\n%s\nis not the file connector's line\n%s", i, m.Data, line.Bytes())
		}
		for h, want := range map[string]string{
			jetstream.MsgIDHeader: "c1:" + ev.IdempotencyKey, HeaderClinic: "c1", HeaderEntity: ev.Entity, HeaderOp: ev.Op,
			HeaderKey: ev.Key, HeaderFingerprint: ev.Fingerprint, HeaderAt: "2026-11-22T10:00:00+03:00",
		} {
			if got := m.Header.Get(h); got != want {
				t.Errorf("message %d header %s = %q, want %q", i, h, got, want)
			}
		}
	}
}

// TestResendIsOneMessage: a batch sent twice (a lost acknowledgement) is acknowledged
// both times and stored once.
func TestResendIsOneMessage(t *testing.T) {
	f := newFixture(t)
	c := newConn(t, f.opts(nil))
	batch := events(time.Now())
	for round := 0; round < 2; round++ {
		for i, err := range c.Deliver(context.Background(), batch) {
			if err != nil {
				t.Fatalf("round %d: %s %s: %v", round, batch[i].Entity, batch[i].Key, err)
			}
		}
	}
	if n := len(natstest.Messages(t, f.js, f.stream)); n != len(batch) {
		t.Fatalf("stream holds %d messages after a resend, want %d", n, len(batch))
	}
}

// TestReturnToEarlierContent: a record that goes A → B → A inside the duplicate
// window must end as A on the stream, although A's idempotency key comes back.
func TestReturnToEarlierContent(t *testing.T) {
	f := newFixture(t)
	c := newConn(t, f.opts(nil))
	t0 := time.Now().Truncate(time.Second)
	a := conformance.Events(Name, connectors.OpUpsert, conformance.Records()[2:3], mapping.Entities, t0)[0]
	doc := *conformance.Records()[2].(*mapping.Doctor)
	doc.LastName = "Петрова"
	b := conformance.Events(Name, connectors.OpUpsert, []mapping.Record{&doc}, mapping.Entities, t0.Add(time.Minute))[0]
	a2 := a
	a2.At = t0.Add(2 * time.Minute)
	for _, ev := range []connectors.Event{a, b, a2, a2} { // the last one: a resend of a2
		if err := c.Deliver(context.Background(), []connectors.Event{ev})[0]; err != nil {
			t.Fatal(err)
		}
	}
	lines := f.lines(t)
	if len(lines) != 3 {
		t.Fatalf("stream holds %d messages, want 3 (A, B, A again; the resend dropped)", len(lines))
	}
	if last := lines[2]; last.Fingerprint != a.Fingerprint || last.At != a2.At.Format(file.TimeLayout) {
		t.Fatalf("last message is %+v, want A detected at %s", last, a2.At)
	}
}

func TestStreamAbsentOrDifferent(t *testing.T) {
	f := newFixture(t)
	c := newConn(t, f.opts(map[string]string{"create_stream": "false"}))
	checks := c.Check(context.Background())
	last := checks[len(checks)-1]
	if last.Err == nil || !strings.Contains(last.Name, "stream "+f.stream) || !strings.Contains(last.Err.Error(), "does not exist") {
		t.Fatalf("check without the stream: %+v", checks)
	}
	errs := c.Deliver(context.Background(), events(time.Now()))
	if errs[0] == nil || connectors.IsPermanent(errs[0]) {
		t.Fatalf("delivery without the stream: %v, want a transient error", errs[0])
	}

	ctx := context.Background()
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: f.stream, Subjects: []string{f.prefix + ".>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c2 := newConn(t, f.opts(map[string]string{"create_stream": "false"}))
	checks = c2.Check(ctx)
	last = checks[len(checks)-1]
	if last.Err == nil || !strings.Contains(last.Err.Error(), "duplicate window is 1m0s, the section says 24h0m0s") {
		t.Fatalf("check of a different stream: %+v", checks)
	}
	c3 := newConn(t, f.opts(nil))
	for _, ch := range c3.Check(ctx) {
		if ch.Err != nil {
			t.Fatalf("with create_stream the stream is brought in line, but %s: %v", ch.Name, ch.Err)
		}
	}
	st, err := f.js.Stream(ctx, f.stream)
	if err != nil || st.CachedInfo().Config.Duplicates != 24*time.Hour {
		t.Fatalf("stream not updated: %v %+v", err, st)
	}
}

func TestCheckPasses(t *testing.T) {
	f := newFixture(t)
	c := newConn(t, f.opts(nil))
	checks := c.Check(context.Background())
	if len(checks) != 5 {
		t.Fatalf("got %d checks, want 5: %+v", len(checks), checks)
	}
	for _, ch := range checks {
		if ch.Err != nil {
			t.Errorf("%s: %v", ch.Name, ch.Err)
		}
	}
	if n := len(natstest.Messages(t, f.js, f.stream)); n != 0 {
		t.Fatalf("check left %d messages on the stream", n)
	}
}

func TestServerDownIsTransient(t *testing.T) {
	srv := natstest.Start(t)
	url := srv.URL()
	srv.Kill()
	c := newConn(t, map[string]string{"urls": url, "clinic": "c1", "create_stream": "true", "timeout": "1s"})
	for _, err := range c.Deliver(context.Background(), events(time.Now())) {
		if err == nil || connectors.IsPermanent(err) {
			t.Fatalf("server down: %v, want a transient error", err)
		}
	}
	checks := c.Check(context.Background())
	if len(checks) != 1 || checks[0].Err == nil || !strings.Contains(checks[0].Name, "server reachable") {
		t.Fatalf("check with the server down: %+v", checks)
	}
}

const authConf = `authorization {
  users = [
    {user: admin, password: adminpw}
    {user: clinic, password: clinicpw, permissions: {publish: ["$JS.API.>", "medsync.c1.>"], subscribe: ["_INBOX.>"]}}
  ]
}
`

func TestAuthorisation(t *testing.T) {
	srv := natstest.StartWith(t, authConf, natsgo.UserInfo("admin", "adminpw"))
	base := map[string]string{"urls": srv.URL(), "create_stream": "true", "timeout": "2s", "user": "clinic"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	bad := newConn(t, with(map[string]string{"clinic": "c1", "password": "wrong"}))
	errs := bad.Deliver(context.Background(), events(time.Now()))
	if !connectors.IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), "refused the credentials of [connector.nats]") {
		t.Fatalf("wrong password: %v, want a permanent error with a hint", errs[0])
	}
	checks := bad.Check(context.Background())
	if len(checks) != 2 || checks[0].Err != nil || checks[1].Err == nil {
		t.Fatalf("check with a wrong password: %+v", checks)
	}

	ok := newConn(t, with(map[string]string{"clinic": "c1", "password": "clinicpw"}))
	for _, ch := range ok.Check(context.Background()) {
		if ch.Err != nil {
			t.Fatalf("allowed clinic: %s: %v", ch.Name, ch.Err)
		}
	}
	other := newConn(t, with(map[string]string{"clinic": "c2", "password": "clinicpw"}))
	checks = other.Check(context.Background())
	last := checks[len(checks)-1]
	if !strings.Contains(last.Name, "may publish to medsync.c2.>") || last.Err == nil || !strings.Contains(last.Err.Error(), "ermissions") {
		t.Fatalf("clinic without publish rights: %+v", checks)
	}
	errs = other.Deliver(context.Background(), events(time.Now())[:2])
	if !connectors.IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), "may not publish to medsync.c2.>") {
		t.Fatalf("publish without rights: %v, want a permanent error naming the subjects", errs[0])
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{}, "clinic: is required"},
		{map[string]string{"clinic": "tula.1"}, `clinic: "tula.1" has a dot`},
		{map[string]string{"clinic": "tula 1"}, `clinic: "tula 1" has a space`},
		{map[string]string{"clinic": "c*"}, `clinic: "c*" has the wildcard`},
		{map[string]string{"clinic": "c1", "subject_prefix": "region..x"}, `subject_prefix: "region..x": token "" is empty`},
		{map[string]string{"clinic": "c1", "subject_prefix": "r>"}, `subject_prefix: "r>": token "r>" has the wildcard`},
		{map[string]string{"clinic": "c1", "urls": "http://x:4222"}, `urls: "http://x:4222": scheme "http"`},
		{map[string]string{"clinic": "c1", "stream": "A.B"}, `stream: "A.B"`},
		{map[string]string{"clinic": "c1", "retention": "forever"}, `retention: "forever" is not limits`},
		{map[string]string{"clinic": "c1", "duplicate_window": "0"}, `duplicate_window: 0s is too short`},
		{map[string]string{"clinic": "c1", "max_age": "1h"}, `duplicate_window: 24h0m0s is longer than max_age 1h0m0s`},
		{map[string]string{"clinic": "c1", "replicas": "7"}, `replicas: 7 is out of range`},
		{map[string]string{"clinic": "c1", "user": "u"}, `password: user and password go together`},
		{map[string]string{"clinic": "c1", "token": "t", "creds": "a.creds"}, `creds: is set together with token`},
		{map[string]string{"clinic": "c1", "create_stream": "true", "stream_subjects": "other.>"}, `stream_subjects: "other.>" do not take this clinic's subjects medsync.c1.*.*`},
	} {
		_, err := New(connectors.Env{Instance: "nats", BaseDir: t.TempDir()}, values(tc.opts))
		if err == nil || !strings.Contains(err.Error(), "config.ini: [connector.nats] "+tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.opts, err, tc.want)
		}
	}
}

func TestSecretsMasked(t *testing.T) {
	for _, o := range options {
		secret := o.Name == "password" || o.Name == "token"
		if o.Secret != secret {
			t.Errorf("option %s: Secret = %v", o.Name, o.Secret)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		filters []string
		pattern string
		want    bool
	}{
		{[]string{"medsync.>"}, "medsync.c1.*.*", true},
		{[]string{"medsync.c1.>"}, "medsync.c1.*.*", true},
		{[]string{"medsync.*.*.*"}, "medsync.c1.*.*", true},
		{[]string{"medsync.c2.>"}, "medsync.c1.*.*", false},
		{[]string{"medsync.c1.doctor.*"}, "medsync.c1.*.*", false},
		{[]string{"medsync.c1"}, "medsync.c1.*.*", false},
		{[]string{"other.>", "medsync.c1.*.*"}, "medsync.c1.*.*", true},
	} {
		if got := covers(tc.filters, tc.pattern); got != tc.want {
			t.Errorf("covers(%v, %s) = %v", tc.filters, tc.pattern, got)
		}
	}
}

// benchEvents makes n distinct appointment upserts.
func benchEvents(n int) []connectors.Event {
	at := time.Now()
	rec := *conformance.Records()[6].(*mapping.Appointment)
	out := make([]connectors.Event, 0, n)
	for i := range n {
		rec.ID = fmt.Sprintf("AP-%07d", i)
		out = append(out, conformance.Events(Name, connectors.OpUpsert, []mapping.Record{&rec}, mapping.Entities, at)[0])
	}
	return out
}

// BenchmarkPublish measures events per second published with acknowledgement, in
// batches of 100 as the dispatcher sends them: through the connector, and the raw
// floor — the same messages with PublishMsgAsync, every ack awaited per batch.
func BenchmarkPublish(b *testing.B) {
	url := natstest.URL(b)
	const batch = 100
	for _, mode := range []string{"connector", "raw"} {
		b.Run(mode, func(b *testing.B) {
			stream, prefix := natstest.Names(b, url)
			f := &fixture{url: url, stream: stream, prefix: prefix, js: natstest.JetStream(b, url)}
			c, err := New(connectors.Env{Instance: "nats", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, values(f.opts(nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conn := c.(*Connector)
			if _, _, err := conn.ready(context.Background()); err != nil {
				b.Fatal(err)
			}
			evs := benchEvents(b.N * batch)
			msgs := make([]*natsgo.Msg, len(evs))
			for i, ev := range evs {
				if msgs[i], err = conn.Message(ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				part := evs[i*batch : (i+1)*batch]
				if mode == "connector" {
					for _, err := range conn.Deliver(context.Background(), part) {
						if err != nil {
							b.Fatal(err)
						}
					}
					continue
				}
				futs := make([]jetstream.PubAckFuture, 0, batch)
				for _, m := range msgs[i*batch : (i+1)*batch] {
					fu, err := f.js.PublishMsgAsync(m)
					if err != nil {
						b.Fatal(err)
					}
					futs = append(futs, fu)
				}
				for _, fu := range futs {
					select {
					case <-fu.Ok():
					case err := <-fu.Err():
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// TestKeyWithLineBreak: a key that cannot be a header value fails alone, permanently.
func TestKeyWithLineBreak(t *testing.T) {
	f := newFixture(t)
	c := newConn(t, f.opts(nil))
	batch := events(time.Now())[:2]
	batch[0].Key = "AP-1\r\nNats-Msg-Id: x"
	errs := c.Deliver(context.Background(), batch)
	if !connectors.IsPermanent(errs[0]) || errs[1] != nil {
		t.Fatalf("got %v, want the first permanent and the second delivered", errs)
	}
	if n := len(natstest.Messages(t, f.js, f.stream)); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}
