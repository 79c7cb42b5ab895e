package convert

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Date is a calendar date with no time zone: a birth date, or the day a MIS schedule
// row belongs to. The zero Date is "no date" (IsZero).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

const (
	secondsPerDay = 86400
	// oleEpochUnixDay is 1899-12-30, OLE/Delphi day 0, as days since 1970-01-01.
	oleEpochUnixDay = -25569
	// maxOLEYear is the last year OLEDate accepts; later values are typing errors.
	maxOLEYear = 2200
)

// oleLimit is the OLE day number of maxOLEYear+1-01-01, the first day rejected.
var oleLimit = Date{maxOLEYear + 1, time.January, 1}.unixDay() - oleEpochUnixDay

// FromTime returns the calendar date of t in t's own location.
func FromTime(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// dateFromUnixDay returns the date that is n days after 1970-01-01.
func dateFromUnixDay(n int64) Date {
	y, m, d := time.Unix(n*secondsPerDay, 0).UTC().Date()
	return Date{y, m, d}
}

// unixDay returns the number of days from 1970-01-01 to d (normalising an invalid d
// the way time.Date does).
func (d Date) unixDay() int64 {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Valid reports whether d names a real calendar day (month 1..12, day within the month).
func (d Date) Valid() bool {
	if d.Month < time.January || d.Month > time.December || d.Day < 1 || d.Day > 31 {
		return false
	}
	return dateFromUnixDay(d.unixDay()) == d
}

// String formats d as "YYYY-MM-DD", the form the canonical model uses.
func (d Date) String() string {
	var b [10]byte
	return string(d.appendTo(b[:0]))
}

func (d Date) appendTo(b []byte) []byte {
	y := d.Year
	if y < 0 || y > 9999 {
		return fmt.Appendf(b, "%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
	}
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	m := int(d.Month)
	b = append(b, byte('0'+m/10%10), byte('0'+m%10), '-')
	return append(b, byte('0'+d.Day/10%10), byte('0'+d.Day%10))
}

// MarshalText implements encoding.TextMarshaler ("YYYY-MM-DD"; "" for the zero Date).
func (d Date) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte{}, nil
	}
	return d.appendTo(make([]byte, 0, 10)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDate; "" gives the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDate parses "YYYY-MM-DD" (the canonical form) or "DD.MM.YYYY" (the Russian form
// registrars type in spreadsheets) and checks that the day exists.
func ParseDate(s string) (Date, error) {
	if s == "" {
		return Date{}, fmt.Errorf("date: %w", ErrEmpty)
	}
	var y, m, d int
	var ok bool
	switch {
	case len(s) == 10 && s[4] == '-' && s[7] == '-':
		y, ok = atoiFixed(s[0:4])
		m, ok = atoiFixed2(s[5:7], ok)
		d, ok = atoiFixed2(s[8:10], ok)
	case len(s) == 10 && s[2] == '.' && s[5] == '.':
		d, ok = atoiFixed(s[0:2])
		m, ok = atoiFixed2(s[3:5], ok)
		y, ok = atoiFixed2(s[6:10], ok)
	}
	if !ok {
		return Date{}, fmt.Errorf("date %q is not YYYY-MM-DD or DD.MM.YYYY", s)
	}
	v := Date{y, time.Month(m), d}
	if !v.Valid() {
		return Date{}, fmt.Errorf("date %q does not exist in the calendar", s)
	}
	return v, nil
}

// atoiFixed parses a short all-digit string.
func atoiFixed(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func atoiFixed2(s string, prevOK bool) (int, bool) {
	n, ok := atoiFixed(s)
	return n, ok && prevOK
}

// In returns local midnight at the start of d in loc. Where a zone skips midnight
// (a DST change at 00:00) it is the first instant of the day, as LocalTime resolves it.
func (d Date) In(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return resolveWall(d.unixDay()*secondsPerDay, 0, loc)
}

// AddDays returns d moved by n calendar days (n may be negative).
func (d Date) AddDays(n int) Date { return dateFromUnixDay(d.unixDay() + int64(n)) }

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	a, b := d.unixDay(), e.unixDay()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkOLE validates an OLE/Delphi TDateTime value and splits it into the OLE day
// number and the seconds since midnight, rounded to the nearest second (so 09:59:59.9999
// is 10:00:00 and a value a hair below midnight is the next day).
func checkOLE(v float64) (day, sec int64, err error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, 0, fmt.Errorf("OLE date %v is not a number", v)
	}
	if v < 1 {
		if v >= 0 {
			return 0, 0, errors.New("OLE day 0 is not a date (0 is the empty value of Delphi/OLE dates)")
		}
		return 0, 0, fmt.Errorf("OLE date %v is negative, which is not a date", v)
	}
	if v >= float64(oleLimit) {
		return 0, 0, fmt.Errorf("OLE date %v is beyond the year %d", v, maxOLEYear)
	}
	f := math.Floor(v)
	day = int64(f)
	sec = int64(math.Round((v - f) * secondsPerDay))
	if sec >= secondsPerDay {
		day++
		sec -= secondsPerDay
	}
	if day >= oleLimit {
		return 0, 0, fmt.Errorf("OLE date %v is beyond the year %d", v, maxOLEYear)
	}
	return day, sec, nil
}

// OLEDate converts an OLE Automation / Delphi TDateTime number (days since 1899-12-30,
// the fraction being the time of day) to its calendar date. The value is first rounded
// to the nearest second, so 45000.9999999 is the date of day 45001. Values below 1
// (0 is what Delphi stores for "no date"), NaN, infinities and dates after the year
// 2200 are errors.
func OLEDate(v float64) (Date, error) {
	day, _, err := checkOLE(v)
	if err != nil {
		return Date{}, err
	}
	return dateFromUnixDay(day + oleEpochUnixDay), nil
}

// OLEDateTime converts an OLE/Delphi TDateTime number holding a MIS local wall-clock
// time to the instant it means in loc, rounded to the nearest second. Gaps and
// overlaps of daylight-saving changes are resolved as LocalTime does. The errors are
// those of OLEDate.
func OLEDateTime(v float64, loc *time.Location) (time.Time, error) {
	day, sec, err := checkOLE(v)
	if err != nil {
		return time.Time{}, err
	}
	if loc == nil {
		return time.Time{}, errors.New("OLE date-time: no time zone given")
	}
	return resolveWall((day+oleEpochUnixDay)*secondsPerDay+sec, 0, loc), nil
}

// ToOLE returns the OLE/Delphi day number of d (midnight), for writing dates back.
func ToOLE(d Date) float64 { return float64(d.unixDay() - oleEpochUnixDay) }

// ToOLEDateTime returns the OLE/Delphi TDateTime number of t's wall clock in t's own
// location (convert with t.In(loc) first to write a branch's local time).
func ToOLEDateTime(t time.Time) float64 {
	h, m, s := t.Clock()
	since := float64(h*3600+m*60+s) + float64(t.Nanosecond())/1e9
	return ToOLE(FromTime(t)) + since/secondsPerDay
}

// DayFraction converts a time of day stored as a fraction of a day (0.5 = 12:00) to
// the duration since midnight, rounded to the nearest second. It accepts 0 ≤ f ≤ 1;
// 1.0 is 24:00, the end of a shift that runs to midnight.
func DayFraction(f float64) (time.Duration, error) {
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("time of day %v is not a fraction of a day between 0 and 1", f)
	}
	return time.Duration(math.Round(f*secondsPerDay)) * time.Second, nil
}

// ToDayFraction returns d (time since midnight) as a fraction of a day.
func ToDayFraction(d time.Duration) float64 {
	return float64(d) / float64(24*time.Hour)
}

// LocalTime returns the instant that the MIS wall-clock time sinceMidnight on day d
// means in the branch's zone loc. sinceMidnight may be 0..24h (24h is the next
// midnight, for shift ends).
//
// Daylight-saving and zone changes are resolved as a clinic schedule means them:
//   - a wall time inside a spring-forward gap (02:30 on the day Berlin jumps from 02:00
//     to 03:00) is the first instant after the gap (03:00 CEST); times inside one gap
//     all map to that instant, so a slot's start never comes after its end;
//   - an ambiguous wall time in an autumn overlap (01:30 in Moscow on 2014-10-26, when
//     clocks went from 02:00 MSK+4 back to 01:00 MSK+3) is its first, earlier occurrence.
func LocalTime(d Date, sinceMidnight time.Duration, loc *time.Location) (time.Time, error) {
	if loc == nil {
		return time.Time{}, errors.New("local time: no time zone given")
	}
	if sinceMidnight < 0 || sinceMidnight > 24*time.Hour {
		return time.Time{}, fmt.Errorf("local time: %v since midnight is outside 0..24h", sinceMidnight)
	}
	if !d.Valid() {
		return time.Time{}, fmt.Errorf("local time: %s is not a calendar date", d)
	}
	wall := d.unixDay()*secondsPerDay + int64(sinceMidnight/time.Second)
	return resolveWall(wall, int64(sinceMidnight%time.Second), loc), nil
}

// resolveWall returns the instant whose wall clock in loc is wall (seconds since
// 1970-01-01 00:00 of that wall clock) plus nsec, applying LocalTime's gap and overlap
// rules. It assumes at most one offset change within a day either side of wall.
func resolveWall(wall, nsec int64, loc *time.Location) time.Time {
	if loc == time.UTC {
		return time.Unix(wall, nsec).UTC()
	}
	var best int64
	found := false
	minOff := int64(math.MaxInt64)
	for _, probe := range [3]int64{wall - secondsPerDay, wall, wall + secondsPerDay} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		o := int64(off)
		minOff = min(minOff, o)
		u := wall - o
		if _, check := time.Unix(u, 0).In(loc).Zone(); int64(check) == o && (!found || u < best) {
			best, found = u, true
		}
	}
	if found {
		return time.Unix(best, nsec).In(loc)
	}
	// A gap: wall-minOff lies after the change; the change itself is the start of
	// the zone period containing it.
	after := time.Unix(wall-minOff, 0).In(loc)
	if start, _ := after.ZoneBounds(); !start.IsZero() {
		return start
	}
	return after
}
