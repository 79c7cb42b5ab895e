package convert

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

func cp1251(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestText(t *testing.T) {
	legacy := cp1251(t, "Иванов  Пётр\r\nСергеевич")
	tests := []struct {
		in        any
		maxLen    int
		want      string
		wantErr   string
		strictErr string // StrictText's error where it differs from Text
	}{
		{"Иванов Пётр", 0, "Иванов Пётр", "", ""},
		{"  Иванов \t Пётр\r\n", 0, "Иванов Пётр", "", ""},
		{"ул.\u00a0Ленина,\u00a0д.\u00a01", 0, "ул. Ленина, д. 1", "", ""},
		{[]byte("Кардиолог"), 0, "Кардиолог", "", ""},
		{"\uFEFFТерапевт", 0, "Терапевт", "", ""},
		{nil, 0, "", "", ""},
		{"", 0, "", "", ""},
		{"   ", 0, "", "", ""},
		{[]byte{}, 0, "", "", ""},
		{"Пётр", 4, "Пётр", "", ""},
		{" Пётр  ", 4, "Пётр", "", ""},
		{"Пётр Ив", 7, "Пётр Ив", "", ""},
		{"Пётр  Ив", 7, "Пётр Ив", "", ""},
		{legacy, 0, "Иванов Пётр Сергеевич", "", "not UTF-8 (legacy code page?)"},
		{string(cp1251(t, "Приём")), 0, "Приём", "", "not UTF-8"},
		{cp1251(t, "Приём окончен"), 5, "", "13 characters long, longer than the 5 allowed", "not UTF-8"},
		{"Пётр Ив", 6, "", "7 characters long, longer than the 6 allowed", ""},
		{"a\x00b", 0, "", "NUL character at byte 1", ""},
		{[]byte("a\x00b"), 0, "", "NUL character", ""},
		{"a\x07b", 0, "", "control character U+0007", ""},
		{"a\u009bb", 0, "", "control character U+009B", ""},
		{"a\x7fb", 0, "", "control character U+007F", ""},
		{"a\uFEFFb", 0, "", "control character U+FEFF", ""},
		{42, 0, "", "unsupported type int", ""},
	}
	for _, tt := range tests {
		got, err := Text(tt.in, tt.maxLen)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Text(%q, %d) = %q, %v; want error containing %q", tt.in, tt.maxLen, got, err, tt.wantErr)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("Text(%q, %d) = %q, %v; want %q", tt.in, tt.maxLen, got, err, tt.want)
		}

		got, err = StrictText(tt.in, tt.maxLen)
		wantErr := tt.wantErr
		if tt.strictErr != "" {
			wantErr = tt.strictErr
		}
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("StrictText(%q, %d) = %q, %v; want error containing %q", tt.in, tt.maxLen, got, err, wantErr)
			}
			if tt.strictErr != "" && !errors.Is(err, ErrNotUTF8) {
				t.Errorf("StrictText(%q) error %v is not ErrNotUTF8", tt.in, err)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("StrictText(%q, %d) = %q, %v; want %q", tt.in, tt.maxLen, got, err, tt.want)
		}
	}
}

func TestTextNoCopyWhenClean(t *testing.T) {
	s := "Иванов Пётр Сергеевич"
	allocs := testing.AllocsPerRun(100, func() {
		if got, err := Text(s, 100); err != nil || got != s {
			t.Fatal(got, err)
		}
	})
	if allocs != 0 {
		t.Errorf("Text of a clean string allocates %v times", allocs)
	}
}

func TestFoldName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Иванов", "иванов"},
		{"  ПЁТР  ", "петр"},
		{"Иванов И.И.", "иванов и и"},
		{"иванов и. и.", "иванов и и"},
		{"Петрова-Водкина  Алёна", "петрова водкина алена"},
		{"петрова – водкина алена", "петрова водкина алена"},
		{"Д’Артаньян", "дартаньян"},
		{"Д'Артаньян", "дартаньян"},
		{"Smith, John", "smith john"},
		{"\tЁлкин\n", "елкин"},
		{"", ""},
		{" .-. ", ""},
	}
	for _, tt := range tests {
		if got := FoldName(tt.in); got != tt.want {
			t.Errorf("FoldName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
