package mapping

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fill sets every field of the struct v points to at random, through reflection, so
// that a field added to a record later is exercised without this test changing:
// strings (empty half the time, with quotes, HTML, control characters, invalid
// UTF-8), times in several zones (some out of json.Marshal's range), nil and set
// pointers, empty and filled lists.
func fill(r *rand.Rand, v reflect.Value) {
	pieces := []string{"", "7", "Иванов", `"`, `\`, "<b>&", "\n\t\x00", "\xff", "\u2028", "😀", " ", "Ёлкин-Пётр"}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3*3600), time.FixedZone("", 7*3600+1800), time.FixedZone("", -24*3600)}
	var set func(f reflect.Value)
	set = func(f reflect.Value) {
		switch f.Kind() {
		case reflect.String:
			if r.IntN(2) == 0 {
				f.SetString("")
				return
			}
			var sb strings.Builder
			for range 1 + r.IntN(3) {
				sb.WriteString(pieces[r.IntN(len(pieces))])
			}
			f.SetString(sb.String())
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		case reflect.Int, reflect.Int64, reflect.Int32:
			f.SetInt([]int64{0, 1, -1, 30, 1 << 40, -1 << 62}[r.IntN(6)])
		case reflect.Pointer:
			if r.IntN(2) == 0 {
				f.SetZero()
				return
			}
			p := reflect.New(f.Type().Elem())
			set(p.Elem())
			f.Set(p)
		case reflect.Slice:
			n := r.IntN(4)
			if n == 0 && r.IntN(2) == 0 {
				f.SetZero()
				return
			}
			s := reflect.MakeSlice(f.Type(), n, n)
			for i := range n {
				set(s.Index(i))
			}
			f.Set(s)
		case reflect.Struct:
			if f.Type() == reflect.TypeFor[time.Time]() {
				sec := r.Int64N(4e9) - 1e9
				if r.IntN(50) == 0 {
					sec = 300e9 // year 11476: json.Marshal refuses it
				}
				tm := time.Unix(sec, r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))])
				f.Set(reflect.ValueOf(tm))
				return
			}
			for i := range f.NumField() {
				set(f.Field(i))
			}
		default:
			panic("fill: field kind " + f.Kind().String() + " is not handled: extend the test")
		}
	}
	set(v.Elem())
}

func TestEncodeIsJSONMarshal(t *testing.T) {
	records := []Record{&Branch{}, &Specialty{}, &Doctor{}, &Service{}, &Shift{}, &Slot{}, &Appointment{}, &Patient{}}
	// Every entity has its record type here: a new entity joins this list.
	if len(records) != len(Entities) {
		t.Fatalf("%d record types for %d entities: add the new record type to this test", len(records), len(Entities))
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, proto := range records {
		fast := false
		for range 3000 {
			rec := reflect.New(reflect.TypeOf(proto).Elem())
			fill(r, rec)
			got, gerr := Encode(rec.Interface().(Record))
			want, werr := json.Marshal(rec.Interface())
			if (gerr == nil) != (werr == nil) || string(got) != string(want) {
				t.Fatalf("%T: Encode gives %s (error %v), json.Marshal %s (error %v)", proto, got, gerr, want, werr)
			}
			if a, ok := rec.Interface().(appender); ok {
				if _, ok := a.appendJSON(nil); ok {
					fast = true
				}
			}
		}
		if _, ok := proto.(appender); ok && !fast {
			t.Errorf("%T: the hand-written encoding never served (every record fell back)", proto)
		}
	}
}

func BenchmarkEncodeAppointment(b *testing.B) {
	msk := time.FixedZone("MSK", 3*3600)
	a := &Appointment{ID: "1000001", PatientID: "52341", DoctorID: "17", BranchID: "1",
		Start: time.Date(2026, 3, 2, 9, 30, 0, 0, msk), End: time.Date(2026, 3, 2, 10, 0, 0, 0, msk),
		Status: StatusBooked, Source: SourceRegistry, ServiceIDs: []string{"12", "40"}, Room: "204", Comment: "Первичный приём"}
	b.Run("Encode", func(b *testing.B) {
		for b.Loop() {
			_, _ = Encode(a)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(a)
		}
	})
}
