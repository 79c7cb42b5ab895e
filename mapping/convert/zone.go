package convert

import (
	"fmt"
	"strings"
	"time"
)

// zoneHelp is appended to zone errors: it names every accepted form.
const zoneHelp = `use an IANA zone name such as "Europe/Moscow" or "Asia/Yekaterinburg", ` +
	`or a fixed offset such as "+03:00", "UTC+3", "GMT+03:00"`

// ParseOffsetZone parses a fixed UTC offset as ONDOC settings and clinic staff write
// it: "+03:00", "+0300", "+3", "+3:00", "-05:30", "GMT+3", "UTC+03:00" (up to ±14:00).
// "UTC" and "GMT" alone are UTC. Note that "GMT+3" here means three hours ahead of UTC
// (Moscow), the everyday reading; the IANA name "Etc/GMT+3" means the opposite and is
// handled by LoadZone as an IANA name. The result is named like "UTC+03:00".
func ParseOffsetZone(s string) (*time.Location, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, fmt.Errorf("time zone: %w; %s", ErrEmpty, zoneHelp)
	}
	rest := t
	if len(rest) >= 3 && (strings.EqualFold(rest[:3], "UTC") || strings.EqualFold(rest[:3], "GMT")) {
		rest = strings.TrimSpace(rest[3:])
		if rest == "" {
			return time.UTC, nil
		}
	}
	off, ok := parseOffset(rest)
	if !ok {
		return nil, fmt.Errorf("time zone %q is not a UTC offset; %s", s, zoneHelp)
	}
	if off == 0 {
		return time.UTC, nil
	}
	return time.FixedZone(offsetName(off), off), nil
}

// parseOffset parses "+3", "+03", "+0300", "+03:00" (sign required) into seconds.
func parseOffset(s string) (int, bool) {
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	var h, m int
	var ok bool
	switch {
	case len(s) == 1 || len(s) == 2:
		h, ok = atoiFixed(s)
	case len(s) == 4 && s[1] == ':':
		h, ok = atoiFixed(s[:1])
		m, ok = atoiFixed2(s[2:], ok)
	case len(s) == 4:
		h, ok = atoiFixed(s[:2])
		m, ok = atoiFixed2(s[2:], ok)
	case len(s) == 5 && s[2] == ':':
		h, ok = atoiFixed(s[:2])
		m, ok = atoiFixed2(s[3:], ok)
	}
	if !ok || h > 14 || m > 59 || (h == 14 && m > 0) {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

func offsetName(off int) string {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	h, m := off/3600, off%3600/60
	return string([]byte{'U', 'T', 'C', sign, byte('0' + h/10), byte('0' + h%10), ':', byte('0' + m/10), byte('0' + m%10)})
}

// LoadZone returns the zone a branch's local times are read in: an IANA name
// ("Europe/Moscow", from the embedded zone database when the system has none) or one
// of the fixed-offset forms of ParseOffsetZone. Prefer IANA names: a fixed offset
// knows nothing of past zone changes such as Moscow's in 2011 and 2014. "Local" is
// refused so that a server's own setting never silently decides a branch's times.
// Call it once per configuration load, not per row.
func LoadZone(name string) (*time.Location, error) {
	t := strings.TrimSpace(name)
	if t == "" {
		return nil, fmt.Errorf("time zone: %w; %s", ErrEmpty, zoneHelp)
	}
	if strings.EqualFold(t, "Local") {
		return nil, fmt.Errorf("time zone %q depends on the server's settings; %s", name, zoneHelp)
	}
	if c := t[0]; c == '+' || c == '-' || ((c == 'U' || c == 'u' || c == 'G' || c == 'g') && !strings.Contains(t, "/")) {
		if loc, err := ParseOffsetZone(t); err == nil {
			return loc, nil
		}
	}
	loc, err := time.LoadLocation(t)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q; %s", name, zoneHelp)
	}
	return loc, nil
}

// timeLayout is the form every timestamp leaving medsync takes: seconds, no fractions,
// an explicit numeric offset (ФЭР requires YYYY-MM-DDThh:mm:ss+hh:mm).
const timeLayout = "2006-01-02T15:04:05-07:00"

// FormatTime formats t as "2006-01-02T15:04:05+03:00" in t's location: whole seconds
// (fractions are truncated) and an explicit offset, "+00:00" for UTC, never "Z".
// Historic offsets with seconds (local mean time before 1920) are written in UTC so
// the text still names the right instant.
func FormatTime(t time.Time) string {
	if _, off := t.Zone(); off%60 != 0 {
		t = t.UTC()
	}
	var b [32]byte
	return string(t.AppendFormat(b[:0], timeLayout))
}

// ParseTime parses a timestamp in the form FormatTime writes; on input it also accepts
// "Z" for UTC and fractional seconds (RFC 3339). The offset is required: a time without
// one is ambiguous and is an error.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("timestamp: %w", ErrEmpty)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not YYYY-MM-DDThh:mm:ss+hh:mm", s)
	}
	return t, nil
}
