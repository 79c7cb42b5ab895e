package jsonx

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// stdString is encoding/json's encoding of s, with or without HTML escaping.
func stdString(t testing.TB, s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

var stringSeeds = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnl\nreturn\rbs\bff\f", "\x00\x01\x1f\x7f",
	"<a href='x'>&amp;</a>", "Иванов Пётр Ёлкин", "line\u2028sep\u2029para", "bad \xff\xfe utf8 \xc3",
	"emoji 😀 and 漢字", "\xed\xa0\x80 surrogate", "end\\",
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', 'Я', '"', '\\', '<', '>', '&', '\n', '\x00', '\x1f', '\u2028', '\u2029', '😀', 0x7f, '/'}
	cases := append([]string{}, stringSeeds...)
	for range 2000 {
		var sb strings.Builder
		for range r.IntN(20) {
			if r.IntN(10) == 0 {
				sb.WriteByte(byte(0x80 + r.IntN(0x80))) // a stray byte: invalid UTF-8
				continue
			}
			sb.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, sb.String())
	}
	for _, s := range cases {
		for _, html := range []bool{true, false} {
			if got, want := string(AppendString(nil, s, html)), stdString(t, s, html); got != want {
				t.Fatalf("AppendString(%q, html=%v) = %s, encoding/json gives %s", s, html, got, want)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, html := range []bool{true, false} {
			if got, want := string(AppendString([]byte("x"), s, html)), "x"+stdString(t, s, html); got != want {
				t.Fatalf("AppendString(%q, html=%v) = %s, encoding/json gives %s", s, html, got, want)
			}
		}
	})
}

func TestAppendTimeMatchesMarshalJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	zones := []*time.Location{time.UTC, time.FixedZone("", 3*3600), time.FixedZone("", -(9*3600 + 30*60)),
		time.FixedZone("", 24*3600), time.FixedZone("", -25*3600), time.FixedZone("", 59)}
	if msk, err := time.LoadLocation("Europe/Moscow"); err == nil {
		zones = append(zones, msk)
	}
	times := []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 2, 30, 0, 500, time.UTC)}
	for range 3000 {
		times = append(times, time.Unix(r.Int64N(400e9)-200e9, r.Int64N(1e9)*int64(r.IntN(2))))
	}
	for _, tm := range times {
		for _, z := range zones {
			tm := tm.In(z)
			want, werr := tm.MarshalJSON()
			got, ok := AppendTime([]byte("x"), tm)
			if ok != (werr == nil) {
				t.Fatalf("%v: AppendTime ok=%v, MarshalJSON error %v", tm, ok, werr)
			}
			if ok && string(got) != "x"+string(want) {
				t.Fatalf("%v: AppendTime gives %s, MarshalJSON %s", tm, got, want)
			}
			if !ok && string(got) != "x" {
				t.Fatalf("%v: refused time left %q in the buffer", tm, got)
			}
		}
	}
}

var validSeeds = []string{
	`{}`, `[]`, `{"a":1}`, `{"a": 1}`, " {\"a\":[1,2.5e+3,-0,true,false,null,\"\\u00e9\\n\"]}\n", `{"a":}`, `{"a":1,}`,
	`[1,]`, `01`, `-`, `1.`, `1e`, `"\x01"`, `"\u12"`, `"\q"`, `{"a" 1}`, `{1:2}`, `nul`, `truex`, `"unterminated`,
	`{"id":"1","start":"2026-01-01T09:00:00+03:00","service_ids":["1","2"]}`, "\"\xff\"", `[[[[]]]]`, `{"a":{"b":{}}}`, ``, ` `,
}

func checkValid(t *testing.T, data []byte) {
	valid, compact := Valid(data)
	if want := json.Valid(data); valid != want {
		t.Fatalf("Valid(%q) = %v, json.Valid says %v", data, valid, want)
	}
	if !valid {
		return
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatal(err)
	}
	if wantCompact := bytes.Equal(buf.Bytes(), data); compact != wantCompact {
		t.Fatalf("Valid(%q) says compact=%v, json.Compact gives %q", data, compact, buf.Bytes())
	}
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, s := range validSeeds {
		checkValid(t, []byte(s))
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	checkValid(t, []byte(deep))
	checkValid(t, []byte("["+deep+"]"))
	// Random mutations of a record's JSON: cut, a byte replaced, a byte inserted.
	r := rand.New(rand.NewPCG(5, 6))
	base := []byte(`{"id":"A-1","patient_id":"P\"7","start":"2026-01-01T09:00:00.5+03:00","n":-12.5e-3,"ok":true,"x":null,"l":["a",{"b":[]}]}`)
	chars := []byte(" \t\n{}[]\",:\\0123456789.eE+-tfnul\x00\x80")
	for range 20000 {
		b := append([]byte{}, base...)
		switch r.IntN(3) {
		case 0:
			b = b[:r.IntN(len(b)+1)]
		case 1:
			b[r.IntN(len(b))] = chars[r.IntN(len(chars))]
		case 2:
			i := r.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{chars[r.IntN(len(chars))]}, b[i:]...)...)
		}
		checkValid(t, b)
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkValid(t, data) })
}

func BenchmarkValid(b *testing.B) {
	rec := []byte(`{"id":"1000001","patient_id":"52341","doctor_id":"17","branch_id":"1","start":"2026-03-02T09:30:00+03:00","end":"2026-03-02T10:00:00+03:00","status":"booked","source":"registry","service_ids":["12","40"],"room":"204","comment":"Первичный приём, пациент просил позвонить"}`)
	b.Run("jsonx", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			Valid(rec)
		}
	})
	b.Run("encoding_json_compact", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			_ = json.Compact(&buf, rec)
		}
	})
}
