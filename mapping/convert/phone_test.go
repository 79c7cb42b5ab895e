package convert

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestPhone(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"8 (922) 999-99-99", "+79229999999", ""},
		{"79229999999", "+79229999999", ""},
		{"+7 922 999 99 99", "+79229999999", ""},
		{"+7(922)999-99-99", "+79229999999", ""},
		{"9229999999", "+79229999999", ""},
		{"  8-922-999-99-99  ", "+79229999999", ""},
		{"8.922.999.99.99", "+79229999999", ""},
		{"8\u00a0922\u00a0999–99–99", "+79229999999", ""},
		{"79229999999.0", "+79229999999", ""},
		{"79229999999,00", "+79229999999", ""},
		{"7.9229999999E10", "+79229999999", ""},
		{"7,9229999999E+10", "+79229999999", ""},
		{"9.229999999e9", "+79229999999", ""},
		{"9229999999.0", "+79229999999", ""},
		{"7.92E10", "+79200000000", ""},
		{"+8 922 999 99 99", "+79229999999", ""},
		{"8 (3452) 12-34-56", "+73452123456", ""},
		{"(3452) 12-34-56", "+73452123456", ""},
		{"8 800 555-35-35", "+78005553535", ""},
		{"+7 495 123-45-67", "+74951234567", ""},
		{"+7 701 123 45 67", "+77011234567", ""}, // Kazakhstan shares +7
		{"+49 30 1234567", "+49301234567", ""},
		{"+375 29 123-45-67", "+375291234567", ""},
		{"0049 30 1234567", "+49301234567", ""},
		{"8 10 49 30 1234567", "+49301234567", ""},
		{"+1 (212) 555-0100", "+12125550100", ""},
		{"+123456789012345", "+123456789012345", ""},
		{"+12345678", "+12345678", ""},

		{"", "", "empty"},
		{"   ", "", "empty"},
		{"+", "", "no digits"},
		{"()-", "", "no digits"},
		{"1234567", "", "only 7 digits"},
		{"22-33-44", "", "only 6 digits"},
		{"+1234567", "", "only 7 digits"},
		{"+1234567890123456", "", "more than 15 digits"},
		{"8922999999999999", "", "more than 15 digits"},
		{"892299999999", "", "12 digits, too many"},
		{"19229999999", "", "does not start with 8 or 7"},
		{"1229999999", "", "area codes start with"},
		{"8 022 999 99 99", "", "area codes start with"},
		{"+7 922 999 99 9", "", "10 digits after +7"},
		{"+7 922 999 99 999", "", "10 digits after +7"},
		{"+0 123 456 789", "", "cannot start with 0"},
		{"8 922 999-99-99 доб. 123", "", "letter"},
		{"Иван 89229999999", "", "letter"},
		{"8922999999x", "", "letter"},
		{"8 922 999 99 99, 8 922 111 11 11", "", "more than one number"},
		{"89229999999/89221111111", "", "more than one number"},
		{"7+9229999999", "", "'+' that is not at the start"},
		{"++79229999999", "", "'+' that is not at the start"},
		{"8#9229999999", "", "not part of a phone number"},
		{"8\x009229999999", "", "not part of a phone number"},
		{"7.9229999999E5", "", "fractional number in scientific notation"},
		{"7.9E30", "", "too large"},
	}
	for _, tt := range tests {
		got, err := Phone(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Phone(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Phone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Phone(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("Phone(\"\") = %v, want ErrEmpty", err)
	}
}

func TestIsMobile(t *testing.T) {
	for in, want := range map[string]bool{
		"+79229999999":  true,
		"+73452123456":  false,
		"+78005553535":  false,
		"+7922999999":   false,
		"+492212345678": false,
		"":              false,
	} {
		if got := IsMobile(in); got != want {
			t.Errorf("IsMobile(%q) = %v", in, got)
		}
	}
}

var e164 = regexp.MustCompile(`^\+\d{8,15}$`)

func FuzzPhone(f *testing.F) {
	for _, s := range []string{"8 (922) 999-99-99", "+7 922 999 99 99", "79229999999.0", "7.9229999999E10",
		"+49 30 1234567", "0049301234567", "81049301234567", "+", "8922", "1e5", "7.9E99", "٣٤٥"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Phone(s)
		if err != nil {
			if got != "" {
				t.Fatalf("Phone(%q) returned %q with error %v", s, got, err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("Phone(%q) = %q, not E.164", s, got)
		}
		again, err := Phone(got)
		if err != nil || again != got {
			t.Fatalf("Phone(Phone(%q)) = %q, %v; want %q", s, again, err, got)
		}
		if IsMobile(got) != strings.HasPrefix(got, "+79") {
			t.Fatalf("IsMobile(%q) = %v", got, IsMobile(got))
		}
	})
}

func BenchmarkPhone(b *testing.B) {
	inputs := []string{"8 (922) 999-99-99", "+7 922 999 99 99", "79229999999.0", "9229999999", "+49 30 1234567"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Phone(inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEmail(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"ivanov@mail.ru", "ivanov@mail.ru", ""},
		{"  Ivanov.I@Mail.RU ", "Ivanov.I@mail.ru", ""},
		{"a.b+tag@sub.clinic.example.com", "a.b+tag@sub.clinic.example.com", ""},
		{"info@клиника.рф", "info@клиника.рф", ""},
		{"info@КЛИНИКА.РФ", "info@клиника.рф", ""},
		{"", "", "empty"},
		{"ivanov mail.ru", "", "contains a space"},
		{"ivanov@mail.ru petrov@mail.ru", "", "contains a space"},
		{"ivanov@mail .ru", "", "contains a space"},
		{"ivanov.mail.ru", "", "no '@'"},
		{"a@b@mail.ru", "", "more than one '@'"},
		{"@mail.ru", "", "nothing before"},
		{"ivanov@", "", "nothing after"},
		{"ivanov@localhost", "", "has no dot"},
		{"ivanov@.mail.ru", "", "misplaced dot"},
		{"ivanov@mail.ru.", "", "misplaced dot"},
		{"ivanov@mail..ru", "", "misplaced dot"},
		{"<ivanov@mail.ru>", "", "must be a bare address"},
		{"Иванов<ivanov@mail.ru>", "", "must be a bare address"},
		{"ivanov..x@mail.ru", "", "not a valid address"},
		{"iva\"nov@mail.ru", "", "not a valid address"},
		{"ivanov@mail.ru,", "", "not a valid address"},
	}
	for _, tt := range tests {
		got, err := Email(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Email(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Email(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Email(" "); !errors.Is(err, ErrEmpty) {
		t.Errorf("Email(\" \") = %v, want ErrEmpty", err)
	}
}
