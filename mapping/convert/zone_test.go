package convert

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseOffsetZone(t *testing.T) {
	tests := []struct {
		in       string
		offset   int // seconds east of UTC
		name     string
		wantErrs string
	}{
		{"+03:00", 3 * 3600, "UTC+03:00", ""},
		{"+0300", 3 * 3600, "UTC+03:00", ""},
		{"+3", 3 * 3600, "UTC+03:00", ""},
		{"+3:00", 3 * 3600, "UTC+03:00", ""},
		{"GMT+3", 3 * 3600, "UTC+03:00", ""},
		{"gmt+3", 3 * 3600, "UTC+03:00", ""},
		{"UTC+03:00", 3 * 3600, "UTC+03:00", ""},
		{"UTC +05:00", 5 * 3600, "UTC+05:00", ""},
		{" GMT+12 ", 12 * 3600, "UTC+12:00", ""},
		{"-05:30", -(5*3600 + 30*60), "UTC-05:30", ""},
		{"+14:00", 14 * 3600, "UTC+14:00", ""},
		{"UTC", 0, "UTC", ""},
		{"GMT", 0, "UTC", ""},
		{"+00:00", 0, "UTC", ""},
		{"", 0, "", "empty"},
		{"3", 0, "", "not a UTC offset"},
		{"03:00", 0, "", "not a UTC offset"},
		{"+15", 0, "", "not a UTC offset"},
		{"+14:30", 0, "", "not a UTC offset"},
		{"+03:60", 0, "", "not a UTC offset"},
		{"+003", 0, "", "not a UTC offset"},
		{"MSK+1", 0, "", "not a UTC offset"},
		{"UTC+x", 0, "", "not a UTC offset"},
		{"Europe/Moscow", 0, "", "not a UTC offset"},
	}
	for _, tt := range tests {
		loc, err := ParseOffsetZone(tt.in)
		if tt.wantErrs != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrs) || !strings.Contains(err.Error(), "Europe/Moscow") {
				t.Errorf("ParseOffsetZone(%q) = %v, %v; want error containing %q and naming the accepted forms", tt.in, loc, err, tt.wantErrs)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOffsetZone(%q): %v", tt.in, err)
			continue
		}
		name, off := time.Date(2024, 1, 1, 0, 0, 0, 0, loc).Zone()
		if off != tt.offset || loc.String() != tt.name {
			t.Errorf("ParseOffsetZone(%q) = %s (%s, %d); want %s, %d", tt.in, loc, name, off, tt.name, tt.offset)
		}
	}
	if _, err := ParseOffsetZone(" "); !errors.Is(err, ErrEmpty) {
		t.Errorf("ParseOffsetZone(\" \") = %v, want ErrEmpty", err)
	}
}

func TestLoadZone(t *testing.T) {
	tests := []struct {
		in      string
		offset  int // in January 2024
		wantErr string
	}{
		{"Europe/Moscow", 3 * 3600, ""},
		{"Asia/Yekaterinburg", 5 * 3600, ""},
		{" Asia/Vladivostok ", 10 * 3600, ""},
		{"Europe/Kaliningrad", 2 * 3600, ""},
		{"Etc/GMT+3", -3 * 3600, ""}, // the POSIX sign, as IANA defines it
		{"UTC", 0, ""},
		{"GMT+3", 3 * 3600, ""},
		{"UTC+05:00", 5 * 3600, ""},
		{"+07:00", 7 * 3600, ""},
		{"", 0, "empty"},
		{"Local", 0, "server's settings"},
		{"Europe/Mosсow", 0, "unknown time zone"}, // Cyrillic "с"
		{"Moscow", 0, "unknown time zone"},
		{"GMT+25", 0, "unknown time zone"},
		{"+3 hours", 0, "unknown time zone"},
	}
	for _, tt := range tests {
		loc, err := LoadZone(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadZone(%q) = %v, %v; want error containing %q", tt.in, loc, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), `"+03:00"`) {
				t.Errorf("LoadZone(%q) error %q does not say what is accepted", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("LoadZone(%q): %v", tt.in, err)
			continue
		}
		if _, off := time.Date(2024, 1, 15, 12, 0, 0, 0, loc).Zone(); off != tt.offset {
			t.Errorf("LoadZone(%q) offset = %d, want %d", tt.in, off, tt.offset)
		}
	}
}

func TestFormatParseTime(t *testing.T) {
	moscow := mustZone(t, "Europe/Moscow")
	newYork := mustZone(t, "America/New_York")
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 3, 1, 10, 0, 0, 0, moscow), "2024-03-01T10:00:00+03:00"},
		{time.Date(2024, 3, 1, 10, 0, 5, 999999999, moscow), "2024-03-01T10:00:05+03:00"},
		{time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC), "2024-03-01T07:00:00+00:00"},
		{time.Date(2024, 7, 1, 7, 0, 0, 0, newYork), "2024-07-01T07:00:00-04:00"},
		{time.Date(2024, 1, 1, 7, 0, 0, 0, time.FixedZone("", 5*3600+30*60)), "2024-01-01T07:00:00+05:30"},
		// Moscow local mean time (+02:30:17) cannot be written in hh:mm; UTC names the instant.
		{time.Date(1900, 1, 1, 12, 0, 0, 0, moscow), "1900-01-01T09:29:43+00:00"},
	}
	for _, tt := range tests {
		got := FormatTime(tt.t)
		if got != tt.want {
			t.Errorf("FormatTime(%v) = %s, want %s", tt.t, got, tt.want)
		}
		back, err := ParseTime(got)
		if err != nil || !back.Equal(tt.t.Truncate(time.Second)) {
			t.Errorf("ParseTime(%s) = %v, %v; want %v", got, back, err, tt.t)
		}
	}

	parseTests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"2024-03-01T10:00:00+03:00", time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC), ""},
		{"2024-03-01T07:00:00Z", time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC), ""},
		{"2024-03-01T10:00:00.123+03:00", time.Date(2024, 3, 1, 7, 0, 0, 123e6, time.UTC), ""},
		{"2024-03-01T07:00:00.5Z", time.Date(2024, 3, 1, 7, 0, 0, 5e8, time.UTC), ""},
		{"", time.Time{}, "empty"},
		{"2024-03-01T10:00:00", time.Time{}, "is not YYYY-MM-DDThh:mm:ss+hh:mm"},
		{"2024-03-01 10:00:00+03:00", time.Time{}, "is not YYYY-MM-DDThh:mm:ss+hh:mm"},
		{"2024-02-30T10:00:00+03:00", time.Time{}, "is not YYYY-MM-DDThh:mm:ss+hh:mm"},
		{"01.03.2024 10:00", time.Time{}, "is not YYYY-MM-DDThh:mm:ss+hh:mm"},
	}
	for _, tt := range parseTests {
		got, err := ParseTime(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTime(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	got, err := ParseTime("2024-03-01T10:00:00+03:00")
	if err != nil {
		t.Fatal(err)
	}
	if _, off := got.Zone(); off != 3*3600 {
		t.Errorf("ParseTime keeps offset %d, want +3h", off)
	}
}
