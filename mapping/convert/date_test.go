package convert

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func TestDateStringParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Date
		wantErr string
	}{
		{"2024-02-29", Date{2024, 2, 29}, ""},
		{"0001-01-01", Date{1, 1, 1}, ""},
		{"29.02.2024", Date{2024, 2, 29}, ""},
		{"01.12.1985", Date{1985, 12, 1}, ""},
		{"", Date{}, "empty"},
		{"2023-02-29", Date{}, "does not exist"},
		{"2023-13-01", Date{}, "does not exist"},
		{"2023-00-10", Date{}, "does not exist"},
		{"31.04.2023", Date{}, "does not exist"},
		{"2023-1-01", Date{}, "is not YYYY-MM-DD"},
		{"2023/01/01", Date{}, "is not YYYY-MM-DD"},
		{"2023-01-0x", Date{}, "is not YYYY-MM-DD"},
		{"20230101", Date{}, "is not YYYY-MM-DD"},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDate(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseDate(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("ParseDate(\"\") error %v does not wrap ErrEmpty", err)
	}
	for _, d := range []Date{{2024, 2, 29}, {1899, 12, 30}, {987, 1, 2}, {12345, 6, 7}} {
		s := d.String()
		if d.Year >= 1000 && d.Year <= 9999 {
			back, err := ParseDate(s)
			if err != nil || back != d {
				t.Errorf("ParseDate(%q) = %v, %v; want %v", s, back, err, d)
			}
		}
	}
	if s := (Date{987, 1, 2}).String(); s != "0987-01-02" {
		t.Errorf("String = %q", s)
	}
	if s := (Date{12345, 6, 7}).String(); s != "12345-06-07" {
		t.Errorf("String = %q", s)
	}
}

func TestDateMethods(t *testing.T) {
	d := Date{2024, 2, 28}
	if got := d.AddDays(1); got != (Date{2024, 2, 29}) {
		t.Errorf("AddDays(1) = %v", got)
	}
	if got := d.AddDays(2); got != (Date{2024, 3, 1}) {
		t.Errorf("AddDays(2) = %v", got)
	}
	if got := d.AddDays(-59); got != (Date{2023, 12, 31}) {
		t.Errorf("AddDays(-59) = %v", got)
	}
	if got := (Date{1960, 1, 1}).AddDays(-1); got != (Date{1959, 12, 31}) {
		t.Errorf("AddDays before 1970 = %v", got)
	}
	if d.Compare(d.AddDays(1)) != -1 || d.AddDays(1).Compare(d) != 1 || d.Compare(d) != 0 {
		t.Error("Compare is wrong")
	}
	if (Date{2023, 2, 29}).Valid() || !(Date{2024, 2, 29}).Valid() || (Date{}).Valid() || (Date{2024, 1, 32}).Valid() {
		t.Error("Valid is wrong")
	}
	if !(Date{}).IsZero() || d.IsZero() {
		t.Error("IsZero is wrong")
	}
	moscow := mustZone(t, "Europe/Moscow")
	at := time.Date(2024, 3, 5, 23, 30, 0, 0, time.UTC) // 2024-03-06 02:30 in Moscow
	if got := FromTime(at.In(moscow)); got != (Date{2024, 3, 6}) {
		t.Errorf("FromTime(Moscow) = %v", got)
	}
	if got := FromTime(at); got != (Date{2024, 3, 5}) {
		t.Errorf("FromTime(UTC) = %v", got)
	}
	if got := d.In(moscow); !got.Equal(time.Date(2024, 2, 27, 21, 0, 0, 0, time.UTC)) || got.Location() != moscow {
		t.Errorf("In(Moscow) = %v", got)
	}
	if got := d.In(nil); !got.Equal(time.Date(2024, 2, 28, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("In(nil) = %v", got)
	}
	// Havana moved clocks at midnight: 2024-03-10 00:00 did not exist there.
	havana := mustZone(t, "America/Havana")
	if got := (Date{2024, 3, 10}).In(havana); FormatTime(got) != "2024-03-10T01:00:00-04:00" {
		t.Errorf("In(Havana) at a midnight gap = %s", FormatTime(got))
	}

	type row struct {
		Birth Date  `json:"birth"`
		None  Date  `json:"none"`
		Ptr   *Date `json:"ptr"`
	}
	b, err := json.Marshal(row{Birth: Date{1985, 12, 1}})
	if err != nil || string(b) != `{"birth":"1985-12-01","none":"","ptr":null}` {
		t.Fatalf("json = %s, %v", b, err)
	}
	var r row
	if err := json.Unmarshal(b, &r); err != nil || r.Birth != (Date{1985, 12, 1}) || !r.None.IsZero() {
		t.Fatalf("unmarshal = %+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"birth":"1985-02-30"}`), &r); err == nil {
		t.Fatal("unmarshal of a non-existent date succeeded")
	}
}

func TestOLEDate(t *testing.T) {
	tests := []struct {
		v       float64
		want    Date
		wantErr string
	}{
		{1, Date{1899, 12, 31}, ""},
		{2, Date{1900, 1, 1}, ""},
		{25569, Date{1970, 1, 1}, ""},
		{45352, Date{2024, 3, 1}, ""},
		{45352.75, Date{2024, 3, 1}, ""},
		{45352.99999, Date{2024, 3, 1}, ""},        // 86399.136 s is 23:59:59
		{45352.9999999, Date{2024, 3, 2}, ""},      // 86399.991 s rounds to the next midnight
		{109574, Date{2199, 12, 31}, ""},           // still before 2201
		{120000, Date{}, "beyond the year 2200"},   // 2228
		{1e300, Date{}, "beyond the year 2200"},    // would overflow int64
		{0, Date{}, "OLE day 0 is not a date"},     // Delphi's empty date
		{0.5, Date{}, "OLE day 0 is not a date"},   // a bare time of day
		{-1, Date{}, "negative"},                   // before the epoch
		{math.NaN(), Date{}, "not a number"},       //
		{math.Inf(1), Date{}, "not a number"},      //
		{math.Inf(-1), Date{}, "not a number"},     //
		{float64(oleLimit), Date{}, "beyond"},      // 2201-01-01
		{float64(oleLimit) - 1e-7, Date{}, "2200"}, // rounds up into 2201
	}
	for _, tt := range tests {
		got, err := OLEDate(tt.v)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("OLEDate(%v) = %v, %v; want error containing %q", tt.v, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("OLEDate(%v) = %v, %v; want %v", tt.v, got, err, tt.want)
		}
	}
	if d, err := OLEDate(float64(oleLimit-1) + 0.5); err != nil || d != (Date{2200, 12, 31}) {
		t.Errorf("last accepted OLE day %v is %v, %v; want 2200-12-31", oleLimit-1, d, err)
	}
	if ToOLE(Date{2024, 3, 1}) != 45352 || ToOLE(Date{1899, 12, 30}) != 0 || ToOLE(Date{1970, 1, 1}) != 25569 {
		t.Error("ToOLE is wrong")
	}
}

func TestOLEDateTime(t *testing.T) {
	moscow := mustZone(t, "Europe/Moscow")
	tests := []struct {
		v    float64
		loc  *time.Location
		want string
	}{
		{45352.5, moscow, "2024-03-01T12:00:00+03:00"},
		{45352 + (9*3600+59*60+59.9999)/86400, moscow, "2024-03-01T10:00:00+03:00"}, // 09:59:59.9999 → 10:00
		{45352 + (9*3600+59*60+59.4)/86400, moscow, "2024-03-01T09:59:59+03:00"},
		{45352.9999999, moscow, "2024-03-02T00:00:00+03:00"},
		{45352.25, time.UTC, "2024-03-01T06:00:00+00:00"},
		// Moscow was UTC+4 all year between March 2011 and October 2014.
		{ToOLE(Date{2012, 7, 1}) + 0.5, moscow, "2012-07-01T12:00:00+04:00"},
		{ToOLE(Date{2013, 1, 15}) + 0.5, moscow, "2013-01-15T12:00:00+04:00"},
		{ToOLE(Date{2010, 1, 15}) + 0.5, moscow, "2010-01-15T12:00:00+03:00"},
		{ToOLE(Date{2015, 1, 15}) + 0.5, moscow, "2015-01-15T12:00:00+03:00"},
		// The ambiguous hour of 2014-10-26 takes the earlier (+04:00) occurrence.
		{ToOLE(Date{2014, 10, 26}) + 1.5/24, moscow, "2014-10-26T01:30:00+04:00"},
	}
	for _, tt := range tests {
		got, err := OLEDateTime(tt.v, tt.loc)
		if err != nil || FormatTime(got) != tt.want {
			t.Errorf("OLEDateTime(%v, %v) = %s, %v; want %s", tt.v, tt.loc, FormatTime(got), err, tt.want)
		}
		if err == nil && got.Location() != tt.loc {
			t.Errorf("OLEDateTime(%v) location = %v, want %v", tt.v, got.Location(), tt.loc)
		}
	}
	for _, v := range []float64{0, 0.99, -3, math.NaN(), 1e9} {
		if _, err := OLEDateTime(v, moscow); err == nil {
			t.Errorf("OLEDateTime(%v) succeeded", v)
		}
	}
	if _, err := OLEDateTime(45352, nil); err == nil || !strings.Contains(err.Error(), "no time zone") {
		t.Errorf("OLEDateTime with nil zone: %v", err)
	}

	// Round trip through ToOLEDateTime at one-second resolution.
	for _, s := range []string{"2024-03-01T10:00:00+03:00", "1999-12-31T23:59:59+03:00", "2012-06-01T00:00:01+04:00"} {
		in, err := ParseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		in = in.In(moscow)
		got, err := OLEDateTime(ToOLEDateTime(in), moscow)
		if err != nil || !got.Equal(in) {
			t.Errorf("round trip of %s = %s, %v", s, FormatTime(got), err)
		}
	}
	if got := ToOLEDateTime(time.Date(2024, 3, 1, 12, 0, 0, 0, moscow)); got != 45352.5 {
		t.Errorf("ToOLEDateTime = %v, want 45352.5", got)
	}
	if got := ToOLEDateTime(time.Date(1899, 12, 30, 6, 0, 0, 0, time.UTC)); got != 0.25 {
		t.Errorf("ToOLEDateTime(epoch 06:00) = %v, want 0.25", got)
	}
}

func TestDayFraction(t *testing.T) {
	tests := []struct {
		f       float64
		want    time.Duration
		wantErr bool
	}{
		{0, 0, false},
		{0.5, 12 * time.Hour, false},
		{1, 24 * time.Hour, false},
		{0.375, 9 * time.Hour, false},
		{(9*3600 + 59*60 + 59.9999) / 86400, 10 * time.Hour, false},
		{(8*3600 + 30*60 + 0.4) / 86400, 8*time.Hour + 30*time.Minute, false},
		{1.0000001, 0, true},
		{-0.0001, 0, true},
		{2, 0, true},
		{math.NaN(), 0, true},
		{math.Inf(1), 0, true},
	}
	for _, tt := range tests {
		got, err := DayFraction(tt.f)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "between 0 and 1") {
				t.Errorf("DayFraction(%v) = %v, %v; want error", tt.f, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("DayFraction(%v) = %v, %v; want %v", tt.f, got, err, tt.want)
		}
	}
	for _, d := range []time.Duration{0, 9 * time.Hour, 17*time.Hour + 45*time.Minute + 30*time.Second, 24 * time.Hour} {
		back, err := DayFraction(ToDayFraction(d))
		if err != nil || back != d {
			t.Errorf("DayFraction(ToDayFraction(%v)) = %v, %v", d, back, err)
		}
	}
	if ToDayFraction(6*time.Hour) != 0.25 {
		t.Error("ToDayFraction(6h) != 0.25")
	}
}

func TestLocalTime(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	newYork := mustZone(t, "America/New_York")
	moscow := mustZone(t, "Europe/Moscow")
	hm := func(h, m int) time.Duration { return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute }
	tests := []struct {
		name  string
		d     Date
		since time.Duration
		loc   *time.Location
		want  string // FormatTime of the result
		utc   string // the instant in UTC, as a second check
	}{
		{"berlin winter", Date{2024, 1, 10}, hm(9, 0), berlin, "2024-01-10T09:00:00+01:00", "2024-01-10T08:00:00Z"},
		{"berlin summer", Date{2024, 7, 10}, hm(9, 0), berlin, "2024-07-10T09:00:00+02:00", "2024-07-10T07:00:00Z"},
		{"berlin before gap", Date{2024, 3, 31}, hm(1, 59), berlin, "2024-03-31T01:59:00+01:00", "2024-03-31T00:59:00Z"},
		{"berlin gap start", Date{2024, 3, 31}, hm(2, 0), berlin, "2024-03-31T03:00:00+02:00", "2024-03-31T01:00:00Z"},
		{"berlin in gap", Date{2024, 3, 31}, hm(2, 30), berlin, "2024-03-31T03:00:00+02:00", "2024-03-31T01:00:00Z"},
		{"berlin after gap", Date{2024, 3, 31}, hm(3, 0), berlin, "2024-03-31T03:00:00+02:00", "2024-03-31T01:00:00Z"},
		{"berlin after gap 2", Date{2024, 3, 31}, hm(3, 30), berlin, "2024-03-31T03:30:00+02:00", "2024-03-31T01:30:00Z"},
		{"berlin overlap first", Date{2024, 10, 27}, hm(2, 30), berlin, "2024-10-27T02:30:00+02:00", "2024-10-27T00:30:00Z"},
		{"berlin overlap start", Date{2024, 10, 27}, hm(2, 0), berlin, "2024-10-27T02:00:00+02:00", "2024-10-27T00:00:00Z"},
		{"berlin after overlap", Date{2024, 10, 27}, hm(3, 0), berlin, "2024-10-27T03:00:00+01:00", "2024-10-27T02:00:00Z"},
		{"new york gap", Date{2024, 3, 10}, hm(2, 30), newYork, "2024-03-10T03:00:00-04:00", "2024-03-10T07:00:00Z"},
		{"new york overlap", Date{2024, 11, 3}, hm(1, 30), newYork, "2024-11-03T01:30:00-04:00", "2024-11-03T05:30:00Z"},
		{"new york end of day", Date{2024, 11, 3}, 24 * time.Hour, newYork, "2024-11-04T00:00:00-05:00", "2024-11-04T05:00:00Z"},
		{"moscow 2010 winter", Date{2010, 12, 1}, hm(10, 0), moscow, "2010-12-01T10:00:00+03:00", "2010-12-01T07:00:00Z"},
		{"moscow 2011 gap", Date{2011, 3, 27}, hm(2, 30), moscow, "2011-03-27T03:00:00+04:00", "2011-03-26T23:00:00Z"},
		{"moscow 2011 after", Date{2011, 3, 27}, hm(10, 0), moscow, "2011-03-27T10:00:00+04:00", "2011-03-27T06:00:00Z"},
		{"moscow 2011 autumn, no change", Date{2011, 10, 30}, hm(2, 30), moscow, "2011-10-30T02:30:00+04:00", "2011-10-29T22:30:00Z"},
		{"moscow 2013 winter +4", Date{2013, 12, 1}, hm(10, 0), moscow, "2013-12-01T10:00:00+04:00", "2013-12-01T06:00:00Z"},
		{"moscow 2014 ambiguous", Date{2014, 10, 26}, hm(1, 30), moscow, "2014-10-26T01:30:00+04:00", "2014-10-25T21:30:00Z"},
		{"moscow 2014 before overlap", Date{2014, 10, 26}, hm(0, 59), moscow, "2014-10-26T00:59:00+04:00", "2014-10-25T20:59:00Z"},
		{"moscow 2014 after overlap", Date{2014, 10, 26}, hm(2, 0), moscow, "2014-10-26T02:00:00+03:00", "2014-10-25T23:00:00Z"},
		{"moscow 2015", Date{2015, 6, 1}, hm(10, 0), moscow, "2015-06-01T10:00:00+03:00", "2015-06-01T07:00:00Z"},
		{"utc", Date{2024, 6, 1}, hm(10, 0) + 500*time.Millisecond, time.UTC, "2024-06-01T10:00:00+00:00", "2024-06-01T10:00:00.5Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LocalTime(tt.d, tt.since, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if FormatTime(got) != tt.want {
				t.Errorf("LocalTime = %s, want %s", FormatTime(got), tt.want)
			}
			if s := got.UTC().Format(time.RFC3339Nano); s != tt.utc {
				t.Errorf("instant = %s, want %s", s, tt.utc)
			}
			if got.Location() != tt.loc {
				t.Errorf("location = %v, want %v", got.Location(), tt.loc)
			}
		})
	}

	// Slots through a gap never run backwards.
	prev := time.Time{}
	for m := 0; m <= 4*60; m += 15 {
		got, err := LocalTime(Date{2024, 3, 31}, hm(0, m), berlin)
		if err != nil {
			t.Fatal(err)
		}
		if got.Before(prev) {
			t.Errorf("%d min: %s is before %s", m, FormatTime(got), FormatTime(prev))
		}
		prev = got
	}

	errTests := []struct {
		d     Date
		since time.Duration
		loc   *time.Location
		want  string
	}{
		{Date{2024, 1, 1}, -time.Second, berlin, "outside 0..24h"},
		{Date{2024, 1, 1}, 24*time.Hour + time.Second, berlin, "outside 0..24h"},
		{Date{2024, 2, 30}, 0, berlin, "not a calendar date"},
		{Date{}, 0, berlin, "not a calendar date"},
		{Date{2024, 1, 1}, 0, nil, "no time zone"},
	}
	for _, tt := range errTests {
		if _, err := LocalTime(tt.d, tt.since, tt.loc); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LocalTime(%v, %v, %v) error = %v, want %q", tt.d, tt.since, tt.loc, err, tt.want)
		}
	}
}

func FuzzOLEDate(f *testing.F) {
	for _, v := range []float64{0, 1, 2.5, 45352.75, 45352.9999999, -1, 109939.99, 1e20, math.NaN()} {
		f.Add(v)
	}
	moscow := mustZone(f, "Europe/Moscow")
	f.Fuzz(func(t *testing.T, v float64) {
		d, err := OLEDate(v)
		tm, err2 := OLEDateTime(v, time.UTC)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("OLEDate(%v) err %v but OLEDateTime err %v", v, err, err2)
		}
		if _, err3 := OLEDateTime(v, moscow); (err == nil) != (err3 == nil) {
			t.Fatalf("OLEDateTime(%v, Moscow) err %v, OLEDate err %v", v, err3, err)
		}
		if err != nil {
			return
		}
		if !d.Valid() || d.Year < 1899 || d.Year > maxOLEYear {
			t.Fatalf("OLEDate(%v) = %v", v, d)
		}
		// Date round trip, and the date is the rounded day of v.
		back, err := OLEDate(ToOLE(d))
		if err != nil || back != d {
			t.Fatalf("OLEDate(ToOLE(%v)) = %v, %v", d, back, err)
		}
		if diff := ToOLE(d) - v; diff > 0.5/86400 || diff < -1 {
			t.Fatalf("OLEDate(%v) = %v (OLE %v) is not the day of v", v, d, ToOLE(d))
		}
		if FromTime(tm) != d {
			t.Fatalf("OLEDateTime(%v) = %v, date %v", v, tm, d)
		}
		if tm.Nanosecond() != 0 {
			t.Fatalf("OLEDateTime(%v) = %v is not whole seconds", v, tm)
		}
		// Date-time round trip at one-second resolution.
		again, err := OLEDateTime(ToOLEDateTime(tm), time.UTC)
		if err != nil || !again.Equal(tm) {
			t.Fatalf("OLEDateTime(ToOLEDateTime(%v)) = %v, %v", tm, again, err)
		}
		if diff := math.Abs(ToOLEDateTime(tm) - v); diff > 0.5001/86400 {
			t.Fatalf("OLEDateTime(%v) = %v is %v days away", v, tm, diff)
		}
	})
}

func BenchmarkOLEDateTime(b *testing.B) {
	moscow := mustZone(b, "Europe/Moscow")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := OLEDateTime(45352.4+float64(i%1000)/1000, moscow); err != nil {
			b.Fatal(err)
		}
	}
}
