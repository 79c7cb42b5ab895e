package convert

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// PatronymicTable maps patronymic endings to a sex, "M" or "F". Build one with
// NewPatronymicTable or ParsePatronymicTable; the zero value means
// DefaultPatronymicTable. A table is immutable and safe for concurrent use.
type PatronymicTable struct {
	endings map[string]string // folded ending → "M"/"F"
	longest int               // longest ending in bytes
}

// DefaultPatronymicTable holds the common Russian endings (-ович, -евич, -ич → M;
// -овна, -евна, -ична, -инична → F) and the Turkic patronymic words (оглы, улы, уулу
// → M; кызы, гызы → F), which are matched at the end of the field too.
var DefaultPatronymicTable = mustPatronymicTable(map[string]string{
	"ович": "M", "евич": "M", "ич": "M", "оглы": "M", "огли": "M", "улы": "M", "уулу": "M",
	"овна": "F", "евна": "F", "ична": "F", "инична": "F", "кызы": "F", "гызы": "F",
})

func mustPatronymicTable(m map[string]string) PatronymicTable {
	t, err := NewPatronymicTable(m)
	if err != nil {
		panic(err)
	}
	return t
}

// NewPatronymicTable builds a table from endings to "M" or "F" (also accepted: "М"/"Ж"
// in Cyrillic, "male"/"female", any case). Endings are folded like FoldName.
func NewPatronymicTable(m map[string]string) (PatronymicTable, error) {
	t := PatronymicTable{endings: make(map[string]string, len(m))}
	for ending, sex := range m {
		e := FoldName(ending)
		if e == "" {
			return PatronymicTable{}, fmt.Errorf("patronymic ending %q is empty", ending)
		}
		var s string
		switch strings.ToLower(strings.TrimSpace(sex)) {
		case "m", "м", "male":
			s = "M"
		case "f", "ж", "female":
			s = "F"
		default:
			return PatronymicTable{}, fmt.Errorf("patronymic ending %q: sex %q is not M or F", ending, sex)
		}
		if prev, ok := t.endings[e]; ok && prev != s {
			return PatronymicTable{}, fmt.Errorf("patronymic ending %q is given as both M and F", ending)
		}
		t.endings[e] = s
		t.longest = max(t.longest, len(e))
	}
	return t, nil
}

// ParsePatronymicTable reads a table in its config form: "ending=sex" entries
// separated by commas, semicolons or line breaks, such as "ович=M, евич=M, овна=F".
func ParsePatronymicTable(s string) (PatronymicTable, error) {
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' })
	m := make(map[string]string, len(entries))
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		ending, sex, ok := strings.Cut(entry, "=")
		if !ok {
			return PatronymicTable{}, fmt.Errorf("patronymic table entry %q is not ending=M or ending=F", entry)
		}
		ending = strings.TrimSpace(ending)
		if prev, dup := m[ending]; dup && !strings.EqualFold(prev, strings.TrimSpace(sex)) {
			return PatronymicTable{}, fmt.Errorf("patronymic ending %q is given twice with different sexes", ending)
		}
		m[ending] = sex
	}
	if len(m) == 0 {
		return PatronymicTable{}, fmt.Errorf("patronymic table: %w; write it like \"ович=M, евич=M, овна=F\"", ErrEmpty)
	}
	return NewPatronymicTable(m)
}

// SexFromPatronymic returns "M", "F" or "" (unknown) for a patronymic, matching the
// longest ending of table, ignoring case, ё/е and surrounding spaces. A zero table is
// DefaultPatronymicTable.
func SexFromPatronymic(patronymic string, table PatronymicTable) string {
	if table.endings == nil {
		table = DefaultPatronymicTable
	}
	p := FoldName(patronymic)
	start := max(0, len(p)-table.longest)
	for start < len(p) && !utf8.RuneStart(p[start]) {
		start++
	}
	for i := start; i < len(p); {
		if s, ok := table.endings[p[i:]]; ok {
			return s
		}
		_, size := utf8.DecodeRuneInString(p[i:])
		i += size
	}
	return ""
}
