package convert

import (
	"errors"
	"strings"
	"testing"
)

func TestSexFromPatronymic(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Сергеевич", "M"},
		{"Петрович", "M"},
		{"Ильич", "M"},
		{"Кузьмич", "M"},
		{"  СЕРГЕЕВИЧ ", "M"},
		{"Сергеевна", "F"},
		{"Петровна", "F"},
		{"Ильинична", "F"},
		{"Никитична", "F"},
		{"Кузьминична", "F"},
		{"Алёновна", "F"},
		{"Фёдорович", "M"},
		{"ФЁДОРОВНА", "F"},
		{"Мамед оглы", "M"},
		{"Мамед-оглы", "M"},
		{"Мамедоглы", "M"},
		{"Алиев кызы", "F"},
		{"Гасан гызы", "F"},
		{"Нурлан улы", "M"},
		{"", ""},
		{"-", ""},
		{"Smith", ""},
		{"Анна", ""},
	}
	for _, tt := range tests {
		if got := SexFromPatronymic(tt.in, PatronymicTable{}); got != tt.want {
			t.Errorf("SexFromPatronymic(%q, zero) = %q, want %q", tt.in, got, tt.want)
		}
		if got := SexFromPatronymic(tt.in, DefaultPatronymicTable); got != tt.want {
			t.Errorf("SexFromPatronymic(%q, default) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPatronymicTableLongestEnding(t *testing.T) {
	// "на" alone says F, but the longer "ична" is configured as M: longest wins.
	table, err := ParsePatronymicTable("на=F; ична=M\nич=M, ё=F")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"Ильинична": "M",
		"Петровна":  "F",
		"Ильич":     "M",
		"Алё":       "F", // ё folded to е on both sides
		"Але":       "F",
		"Петрович":  "M",
		"Оглы":      "",
	} {
		if got := SexFromPatronymic(in, table); got != want {
			t.Errorf("SexFromPatronymic(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePatronymicTable(t *testing.T) {
	table, err := ParsePatronymicTable(" ович = M , евич=m, ОВНА=F; евна=Ж, ич=М, кызы=female, оглы=male, ")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"Петрович": "M", "Сергеевич": "M", "Петровна": "F", "Сергеевна": "F",
		"Ильич": "M", "Алиев кызы": "F", "Мамед оглы": "M", "Ильинична": "",
	} {
		if got := SexFromPatronymic(in, table); got != want {
			t.Errorf("SexFromPatronymic(%q) = %q, want %q", in, got, want)
		}
	}

	errTests := []struct{ in, want string }{
		{"", "empty"},
		{" , ; ", "empty"},
		{"ович", "is not ending=M or ending=F"},
		{"ович=X", `sex "X" is not M or F`},
		{"ович=", `sex "" is not M or F`},
		{"=M", "is empty"},
		{". =M", "is empty"},
		{"ович=M, ович=F", "given twice"},
		{"ович=M, ОВИЧ=F", "both M and F"},
	}
	for _, tt := range errTests {
		if _, err := ParsePatronymicTable(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePatronymicTable(%q) error = %v, want containing %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParsePatronymicTable(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("ParsePatronymicTable(\"\") = %v, want ErrEmpty", err)
	}
	if _, err := NewPatronymicTable(map[string]string{"ич": "?"}); err == nil {
		t.Error("NewPatronymicTable accepted sex \"?\"")
	}
}
