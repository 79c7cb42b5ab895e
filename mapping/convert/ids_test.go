package convert

import (
	"errors"
	"strings"
	"testing"
)

func TestSNILS(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		// Check numbers worked out by hand from the Pension Fund rule:
		{"112-233-445 95", "11223344595", ""}, // 9+8+14+12+15+12+12+8+5 = 95
		{"11223344595", "11223344595", ""},
		{"112 233 445 95", "11223344595", ""},
		{" 112-233-445-95 ", "11223344595", ""},
		{"11223344595.0", "11223344595", ""},  // a spreadsheet float
		{"123-456-789 64", "12345678964", ""}, // 165 mod 101 = 64
		{"911-000-003 99", "91100000399", ""}, // 81+8+7+3 = 99, below 100
		{"911-000-004 00", "91100000400", ""}, // 100 → 00
		{"911-000-005 00", "91100000500", ""}, // 101 → 00
		{"996-000-006 00", "99600000600", ""}, // 201 mod 101 = 100 → 00
		{"996-000-007 00", "99600000700", ""}, // 202 mod 101 = 0
		{"999-999-999 01", "99999999901", ""}, // 405 mod 101 = 1
		{"001-001-998 77", "00100199877", ""}, // at or below 001-001-998: not checked
		{"000-000-001 23", "00000000123", ""},

		{"", "", "empty"},
		{"112-233-445 96", "", "fails its checksum (the last two digits should be 95)"},
		{"123-456-789 46", "", "should be 64"},
		{"213-456-789 64", "", "checksum"},
		{"911-000-004 01", "", "should be 00"},
		{"001-001-999 00", "", "checksum"}, // the first checked number
		{"112-233-445 9", "", "has 10 digits instead of 11 (a spreadsheet may have dropped leading zeros"},
		{"1122334459", "", "has 10 digits"},
		{"112-233", "", "has 6 digits instead of 11"},
		{"112-233-445 955", "", "more than 11 digits"},
		{"112-233-445/95", "", "contains '/'"},
		{"СНИЛС 112-233-445 95", "", "contains 'С'"},
	}
	for _, tt := range tests {
		got, err := SNILS(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SNILS(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && repeatsNumber(tt.in, err) {
				t.Errorf("SNILS(%q) error %q repeats the number", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SNILS(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := SNILS(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("SNILS(\"\") = %v, want ErrEmpty", err)
	}
}

func TestFormatSNILS(t *testing.T) {
	for in, want := range map[string]string{
		"12345678964":    "123-456-789 64",
		"11223344595":    "112-233-445 95",
		"1234567896":     "1234567896",
		"1234567896x":    "1234567896x",
		"123-456-789 64": "123-456-789 64",
		"":               "",
	} {
		if got := FormatSNILS(in); got != want {
			t.Errorf("FormatSNILS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOMS(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"7700000012345678", "7700000012345678", ""},
		{" 7700 0000 1234 5678 ", "7700000012345678", ""},
		{"7700-0000-1234-5678", "7700000012345678", ""},
		{"7700000012345678.0", "7700000012345678", ""},
		{"ЕР  1234567890", "ЕР 1234567890", ""},
		{"77 00 123456", "77 00 123456", ""},
		{"№ 123456789", "№ 123456789", ""},
		{"123456789", "123456789", ""}, // temporary certificate
		{"АБВ-123456", "АБВ-123456", ""},
		{"", "", "empty"},
		{"   ", "", "empty"},
		{"нет полиса", "", "has no digits"},
		{"0000000000000000", "", "all zeros"},
		{"12345", "", "only 5 digits"},
		{"ЕР 123", "", "only 3 digits"},
		{"77000000123456789", "", "has 17 digits"},
		{"7700000012345678; 123", "", "contains ';'"},
		{"7700\x0000000012345678", "", "contains"},
		{"7700/000012345678", "", "contains '/'"},
	}
	for _, tt := range tests {
		got, err := OMS(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("OMS(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && repeatsNumber(tt.in, err) {
				t.Errorf("OMS(%q) error %q repeats the number", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("OMS(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := OMS(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("OMS(\"\") = %v, want ErrEmpty", err)
	}
}

// repeatsNumber reports whether err's text holds a run of 6 or more of in's digits,
// with or without separators.
func repeatsNumber(in string, err error) bool {
	keep := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	digits, msg := keep(in), keep(err.Error())
	return len(digits) >= 6 && strings.Contains(msg, digits[:6])
}
