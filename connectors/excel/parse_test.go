package excel

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"medsync/connectors"
	"medsync/mapping/convert"
)

func testParser() *rowParser {
	p := &rowParser{patronymics: convert.DefaultPatronymicTable, factors: defaultFactors(), today: convert.Date{Year: 2025, Month: time.June, Day: 10},
		fixes: map[string][]string{foldCode("вибр."): {"4.3.1"}, foldCode("шум"): {"4.4"}}}
	for f := field(0); f < nFields; f++ {
		p.cols[f] = int(f) + 1
	}
	return p
}

func TestParseDate(t *testing.T) {
	today := convert.Date{Year: 2025, Month: time.June, Day: 10}
	tests := []struct {
		in, want string // want "" = error
	}{
		{"31048", "1985-01-01"},      // a real date cell read raw (OLE serial)
		{"31048.0", "1985-01-01"},    // serial as a float
		{"60", ""},                   // 1900: no one's birth date; "15.03" typed as text reads the same way
		{"367", "1901-01-01"},        // the epoch 1899-12-30 absorbs Excel's fictitious 1900-02-29
		{"15.03.1985", "1985-03-15"}, //
		{"5.3.1985", "1985-03-05"},   //
		{"15.03.85", "1985-03-15"},   // two-digit year in the past century
		{"15.03.05", "2005-03-15"},   // two-digit year this century
		{"15/03/1985", "1985-03-15"}, //
		{"1985-03-15", "1985-03-15"}, //
		{"15-03-1985", "1985-03-15"}, //
		{"15.03.1985 0:00:00", "1985-03-15"},
		{"15.03.1985г.", "1985-03-15"}, //
		{" 15.03.1985 ", "1985-03-15"}, //
		{"31.02.1985", ""},             // no such day
		{"15.13.1985", ""},             //
		{"1985", "1905-06-07"},         // a bare number is a serial; the age check refuses it later
		{"вчера", ""},                  //
		{"15.03", ""},                  //
		{"15.03.19851", ""},            //
		{"-5", ""},                     //
		{"NaN", ""},                    //
		{"1e30", ""},                   //
		{"12 марта 1980 г.", "1980-03-12"},
		{"12 марта 1980", "1980-03-12"},
		{"1 мая 1980 года", "1980-05-01"},
		{"3 дек. 1979 г.", "1979-12-03"},
		{"31 февраля 1980 г.", ""},
		{"12 мартобря 1980", ""},
	}
	for _, tt := range tests {
		got, err := parseDate(tt.in, today)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseDate(%q) = %s, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("parseDate(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRow(t *testing.T) {
	p := testParser()
	// Columns: A lastname, B firstname, C middlename, D birth, E sex, F phone,
	// G position, H department, I exam type, J conditions, K factors.
	row := func(cells ...string) []string { return cells }
	tests := []struct {
		name      string
		cells     []string
		valid     bool
		errFields []field
		check     func(t *testing.T, r *staffRow)
	}{
		{
			name:  "complete row",
			cells: row("Иванов", "Иван", "Иванович", "15.03.1985", "м", "89221234567", "Слесарь", "Цех №1", "0", "32", "4.2.5; 1.2.1"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if r.Last != "Иванов" || r.Sex != "M" || r.SexGuessed || r.Phone != "+79221234567" || r.ExamType != examPreliminary ||
					r.Conditions != 32 || strings.Join(r.Factors, ",") != "4.2.5,1.2.1" || r.Birth.String() != "1985-03-15" {
					t.Errorf("parsed %+v", r)
				}
			},
		},
		{
			name:  "sex from patronymic, empty exam type is periodic, extra spaces, caps",
			cells: row("  ПЕТРОВА ", "анна", "Сергеевна", "31048", "", "", "", "", "", "", ""),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if r.Sex != "F" || !r.SexGuessed || r.ExamType != examPeriodic || r.Conditions != 0 || r.Last != "Петрова" || r.First != "Анна" {
					t.Errorf("parsed %+v", r)
				}
			},
		},
		{
			name:  "phone typed as a number, exam type -1, conditions as number",
			cells: row("Сидоров", "Пётр", "Алиевич", "01.01.1990", "", "79221234567", "", "", "-1", "4", "п. 4.2.5"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if r.Phone != "+79221234567" || r.ExamType != examNotChosen || r.Conditions != 4 || r.Sex != "M" || r.Factors[0] != "4.2.5" {
					t.Errorf("parsed %+v", r)
				}
			},
		},
		{
			name:  "bad phone is a warning only",
			cells: row("Сидоров", "Пётр", "", "01.01.1990", "М", "позвонить маме", "", "", "1", "", ""),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if r.Phone != "" || !r.warnFields[fPhone] {
					t.Errorf("parsed %+v", r)
				}
			},
		},
		{
			name:      "missing names and birth date",
			cells:     row("", "", "", "", "", "", "Водитель"),
			errFields: []field{fLast, fFirst, fBirth},
		},
		{
			name:      "working conditions out of the list",
			cells:     row("Иванов", "Иван", "", "15.03.1985", "", "", "", "", "", "3", ""),
			errFields: []field{fConditions},
		},
		{
			name:      "exam type out of the list",
			cells:     row("Иванов", "Иван", "", "15.03.1985", "", "", "", "", "2", "", ""),
			errFields: []field{fExamType},
		},
		{
			name:  "unknown harmful factor does not refuse the person: it waits for recognition",
			cells: row("Иванов", "Иван", "", "15.03.1985", "", "", "", "", "", "", "4.2.5, 9.9.9;abc"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if !strings.Contains(r.Reasons(), "9.9.9, abc") || !strings.Contains(r.Reasons(), sheetRecognize) || !r.warnFields[fFactors] {
					t.Errorf("reasons %q do not name the unknown codes and the recognition sheet", r.Reasons())
				}
				if strings.Join(r.Factors, ",") != "4.2.5" || strings.Join(r.Unknown, ",") != "9.9.9,abc" {
					t.Errorf("factors %v, unknown %v", r.Factors, r.Unknown)
				}
			},
		},
		{
			name:  "sub-codes of приказ № 29н are known (1.2.1 азота неорганические соединения)",
			cells: row("Иванов", "Иван", "Иванович", "15.03.1985", "", "", "", "", "", "", "1.2.1, 1.1.4.6.2; п. 4.3.1; 18.2"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if strings.Join(r.Factors, ",") != "1.2.1,1.1.4.6.2,4.3.1,18.2" || len(r.Unknown) != 0 {
					t.Errorf("factors %v, unknown %v", r.Factors, r.Unknown)
				}
			},
		},
		{
			name:  "a code the organization's registrar corrected before is recognised",
			cells: row("Иванов", "Иван", "Иванович", "15.03.1985", "", "", "", "", "", "", "4.2.5, вибр., шум"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if strings.Join(r.Factors, ",") != "4.2.5,4.3.1,4.4" || len(r.Unknown) != 0 || !strings.Contains(r.Reasons(), "вибр. → 4.3.1") {
					t.Errorf("factors %v, unknown %v, reasons %q", r.Factors, r.Unknown, r.Reasons())
				}
			},
		},
		{
			name:  "no patronymic and no sex: loaded with a warning",
			cells: row("Иванов", "Иван", "", "15.03.1985"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if !r.warnFields[fMiddle] || !strings.Contains(r.Reasons(), "Отчество: не заполнено") {
					t.Errorf("no warning: %q", r.Reasons())
				}
			},
		},
		{
			name:  "a patronymic that tells no sex: warning",
			cells: row("Ахмедов", "Руслан", "Ахмед", "15.03.1985"),
			valid: true,
			check: func(t *testing.T, r *staffRow) {
				if !r.warnFields[fSex] || r.Sex != "" {
					t.Errorf("sex %q, reasons %q", r.Sex, r.Reasons())
				}
			},
		},
		{
			name:      "unknown sex, future birth date, digits in the name",
			cells:     row("Иванов2", "Иван", "", "01.01.2030", "X"),
			errFields: []field{fLast, fBirth, fSex},
		},
		{
			name:      "too old",
			cells:     row("Иванов", "Иван", "", "01.01.1901"),
			errFields: []field{fBirth},
		},
		{
			name:      "name too long",
			cells:     row(strings.Repeat("я", 101), "Иван", "", "01.01.1990"),
			errFields: []field{fLast},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, empty := p.parse(7, tt.cells)
			if empty {
				t.Fatal("row reported empty")
			}
			if r.Valid() != (tt.valid) {
				t.Fatalf("Valid() = %v, want %v; issues %+v", r.Valid(), tt.valid, r.Issues)
			}
			for _, f := range tt.errFields {
				if !r.errFields[f] {
					t.Errorf("no error on %s; issues %+v", fieldKeys[f], r.Issues)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	if _, empty := p.parse(3, []string{"", " ", "\u00a0"}); !empty {
		t.Error("blank row not reported empty")
	}
	if _, empty := p.parse(3, nil); !empty {
		t.Error("row without cells not reported empty")
	}
}

func TestFactorFile(t *testing.T) {
	tab, err := parseFactors(strings.NewReader("# comment\n\ufeff4.2.5 Ультрафиолет\n1.37.1\n\n7\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"4.2.5", "1.37.1", "7"} {
		if !tab.Has(c) {
			t.Errorf("code %s missing", c)
		}
	}
	if tab.Has("4.2") {
		t.Error("4.2 should not be known")
	}
	if _, err := parseFactors(strings.NewReader("abc\n"), "test"); err == nil {
		t.Error("a line without a code was accepted")
	}
	if _, err := parseFactors(strings.NewReader("# only comments\n"), "test"); err == nil {
		t.Error("an empty list was accepted")
	}
	for in, want := range map[string]string{"п. 4.2.5.": "4.2.5", "4..2": "", "4.2a": "", " 18 ": "18", ".4": ""} {
		if got := normalizeFactor(in); got != want {
			t.Errorf("normalizeFactor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := map[string]string{"organizations": "zavod", "org.zavod.inbox": "in", "org.zavod.mis_id": "1"}
	tests := []struct {
		name, key, value, want string
	}{
		{"bad column letter", "org.zavod.col.lastname", "A1", "org.zavod.col.lastname"},
		{"column used twice", "org.zavod.col.firstname", "A", "already used"},
		{"missing inbox", "org.zavod.inbox", "", "org.zavod.inbox"},
		{"bad cron", "export.call_list.schedule", "every day", "export.call_list.schedule"},
		{"bad patronymic table", "patronymic_table", "ович", "patronymic_table"},
		{"bad org code", "organizations", "за вод", "organizations"},
		{"last before first", "org.zavod.last_row", "1", "before first_row"},
		{"missing factors file", "factors_file", "nope.txt", "factors_file"},
		{"bad zone", "timezone", "Moscow", "timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			m["org.zavod.col.lastname"] = "A"
			m["org.zavod.col.firstname"] = "B"
			m["org.zavod.col.birthdate"] = "C"
			m[tt.key] = tt.value
			if tt.key == "export.call_list.schedule" {
				m["export.dir"] = "out"
			}
			_, err := parseConfig(connectors.Env{BaseDir: t.TempDir()}, values(m))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("schedule needs export.dir", func(t *testing.T) {
		m := map[string]string{"export.doctors_week.schedule": "0 18 * * 5"}
		if _, err := parseConfig(connectors.Env{}, values(m)); err == nil || !strings.Contains(err.Error(), "export.dir") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("default columns A..K", func(t *testing.T) {
		c, err := parseConfig(connectors.Env{BaseDir: "/srv"}, values(base))
		if err != nil {
			t.Fatal(err)
		}
		o := c.Orgs[0]
		if o.Cols[fLast] != 1 || o.Cols[fFactors] != 11 || o.FirstRow != 2 || o.Inbox != "/srv/in" && !strings.HasSuffix(o.Inbox, "in") {
			t.Fatalf("org %+v", o)
		}
	})
	t.Run("every option name is a valid glob", func(t *testing.T) {
		for _, o := range options {
			if strings.Contains(o.Name, "*") != o.Pattern {
				t.Errorf("option %s: Pattern = %v", o.Name, o.Pattern)
			}
		}
	})
}

// FuzzParseRow checks the row parser never panics and keeps its promises on any input.
func FuzzParseRow(f *testing.F) {
	f.Add("Иванов", "Иван", "Иванович", "15.03.1985", "м", "89221234567", "0", "32", "4.2.5; 1.37.1")
	f.Add("ПЕТРОВА", "анна", "Сергеевна", "31048", "", "7.9221234567E10", "", "", "")
	f.Add("", "", "", "31.02.85", "X", "позвонить маме", "-1", "3", "п. 4.2.5., 9.9")
	f.Add("Ёлкин", "Семён", "Оглы", "1e308", "Ж", "+44 20 7946 0958", "1.0", "4", ";;,,")
	f.Add("\x00\xff", "a\u00a0b", "\t", "-0", "2", "0", "NaN", "34.0", "1..2")
	p := testParser()
	f.Fuzz(func(t *testing.T, last, first, middle, birth, sex, phone, exam, cond, factors string) {
		cells := []string{last, first, middle, birth, sex, phone, "", "", exam, cond, factors}
		r, empty := p.parse(2, cells)
		if empty {
			return
		}
		if r.Valid() {
			if r.Last == "" || r.First == "" || r.Birth.IsZero() {
				t.Fatalf("valid row without a required value: %+v", r)
			}
			if r.Birth.Compare(p.today) > 0 {
				t.Fatalf("birth date in the future accepted: %s", r.Birth)
			}
			if r.ExamType < -1 || r.ExamType > 1 {
				t.Fatalf("exam type %d", r.ExamType)
			}
			if _, ok := map[int]bool{0: true, 1: true, 2: true, 31: true, 32: true, 33: true, 34: true, 4: true}[r.Conditions]; !ok {
				t.Fatalf("conditions %d", r.Conditions)
			}
			for _, c := range r.Factors {
				if !p.factors.Has(c) {
					t.Fatalf("unknown factor %q accepted", c)
				}
			}
			if r.Phone != "" && !strings.HasPrefix(r.Phone, "+") {
				t.Fatalf("phone %q", r.Phone)
			}
		}
		if r.Sex != "" && r.Sex != "M" && r.Sex != "F" {
			t.Fatalf("sex %q", r.Sex)
		}
		if !utf8.ValidString(r.Reasons()) {
			t.Fatalf("reasons not UTF-8: %q", r.Reasons())
		}
		for _, is := range r.Issues {
			if is.Msg == "" {
				t.Fatal("issue without a message")
			}
		}
	})
}
