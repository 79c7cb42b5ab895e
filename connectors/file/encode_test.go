package file

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"medsync/connectors"
)

// stdLine is the line encoding/json makes of ev: a Line with the data compacted,
// without HTML escaping.
func stdLine(t *testing.T, ev connectors.Event) string {
	ln := Line{Entity: ev.Entity, Op: ev.Op, Key: ev.Key, IdempotencyKey: ev.IdempotencyKey,
		Fingerprint: ev.Fingerprint, At: ev.At.Format(TimeLayout)}
	if ev.Op == connectors.OpUpsert {
		ln.Data = ev.Data
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ln); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestEncodeIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	keys := []string{"1043", "P-1", `a"b`, `back\slash`, "<&>", "Ёж\n\t", "\xff", "2026-03-02|17", "\u2028"}
	datas := []string{`{"id":"1"}`, `{"id": "1", "l": [1, 2]}`, "{\n  \"comment\": \"<b>&amp;</b>\"\n}", `{"name":"Иванов \"Пётр\""}`, `{}`, `[1,2]`, `"s"`}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3*3600), time.FixedZone("", -5*3600-1800)}
	var buf bytes.Buffer
	for range 3000 {
		ev := connectors.Event{
			Entity: keys[r.IntN(len(keys))], Op: []string{connectors.OpUpsert, connectors.OpDelete}[r.IntN(2)],
			Key: keys[r.IntN(len(keys))], IdempotencyKey: keys[r.IntN(len(keys))], Fingerprint: keys[r.IntN(len(keys))],
			At:   time.Unix(r.Int64N(2e9), r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))]),
			Data: json.RawMessage(datas[r.IntN(len(datas))]),
		}
		buf.Reset()
		buf.WriteString("previous line\n")
		if err := encode(&buf, ev); err != nil {
			t.Fatal(err)
		}
		if got, want := buf.String(), "previous line\n"+stdLine(t, ev); got != want {
			t.Fatalf("encode gives\n%s\nencoding/json\n%s", got, want)
		}
	}
}

func BenchmarkEncodeLine(b *testing.B) {
	ev := connectors.Event{Entity: "appointment", Op: connectors.OpUpsert, Key: "1000001",
		IdempotencyKey: "3f1c0e9b7a5d4c2e1f0a9b8c7d6e5f4a", Fingerprint: "9b8c7d6e5f4a3f1c", At: time.Now(),
		Data: json.RawMessage(`{"id":"1000001","patient_id":"52341","doctor_id":"17","branch_id":"1","start":"2026-03-02T09:30:00+03:00","end":"2026-03-02T10:00:00+03:00","status":"booked","source":"registry","service_ids":["12","40"],"room":"204","comment":"Первичный приём"}`)}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		_ = encode(&buf, ev)
	}
}
