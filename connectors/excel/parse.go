package excel

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"medsync/mapping/convert"
)

// Exam types (вид профосмотра) as the seed MIS codes them.
const (
	examNotChosen   = -1
	examPreliminary = 0
	examPeriodic    = 1
)

var examNames = map[int]string{examNotChosen: "не выбран", examPreliminary: "предварительный", examPeriodic: "периодический"}

// Working-condition classes (условия труда) the seed MIS accepts; 0 means not set.
var conditionCodes = map[string]int{"1": 1, "2": 2, "31": 31, "32": 32, "33": 33, "34": 34, "4": 4}

// Maximum lengths, matching the demo MIS columns (CLIENTS names: 100; list columns: 200/500).
const (
	maxName    = 100
	maxText    = 200
	maxFactors = 500
	maxAge     = 100
)

// issue is a problem with one cell of a row. A warning leaves the row valid (the value
// is dropped); an error refuses the row.
type issue struct {
	Field field
	Msg   string // Russian, for the registrar
	Warn  bool
}

// staffRow is one parsed row of a staff list.
type staffRow struct {
	Row        int             // 1-based row number in the sheet
	Raw        [nFields]string // the cell values as read (raw: date cells are serial numbers)
	Last       string          // surname as typed (spaces tidied, ALL CAPS turned into Title case)
	First      string          //
	Middle     string          //
	Birth      convert.Date    //
	Sex        string          // "M", "F" or ""
	SexGuessed bool            // Sex came from the patronymic
	Phone      string          // E.164 or ""
	Position   string          //
	Department string          //
	ExamType   int             // examNotChosen, examPreliminary or examPeriodic
	Conditions int             // 0 = not set; 1, 2, 31..34, 4
	Factors    []string        // known codes, normalized
	Unknown    []string        // codes not in the code table, as typed: for the recognition sheet
	Fixed      []string        // "typed → code" recognised from the organization's earlier corrections
	Issues     []issue         //
	Status     string          // filled by the import: statusLoaded, statusRefused, statusListed
	Note       string          // extra text for the result workbook
	PatientID  string          // MIS card the row went to
	errFields  [nFields]bool   // cells with errors, highlighted red
	warnFields [nFields]bool   // cells with warnings, highlighted yellow
}

// Valid reports whether the row has no errors (warnings are fine).
func (r *staffRow) Valid() bool {
	for _, is := range r.Issues {
		if !is.Warn {
			return false
		}
	}
	return true
}

func (r *staffRow) fail(f field, format string, a ...any) {
	r.Issues = append(r.Issues, issue{Field: f, Msg: fieldTitles[f] + ": " + fmt.Sprintf(format, a...)})
	r.errFields[f] = true
}

func (r *staffRow) warn(f field, format string, a ...any) {
	r.Issues = append(r.Issues, issue{Field: f, Msg: fieldTitles[f] + ": " + fmt.Sprintf(format, a...), Warn: true})
	r.warnFields[f] = true
}

// Reasons joins the row's problems for the result workbook.
func (r *staffRow) Reasons() string {
	parts := make([]string, 0, len(r.Issues)+1)
	for _, is := range r.Issues {
		parts = append(parts, is.Msg)
	}
	if r.Note != "" {
		parts = append(parts, r.Note)
	}
	return strings.Join(parts, "; ")
}

// rowParser turns the cells of one row into a staffRow. It is safe for concurrent use.
type rowParser struct {
	cols        [nFields]int
	patronymics convert.PatronymicTable
	factors     *factorTable
	fixes       map[string][]string // the organization's corrections: folded typed code → codes (none: not a factor)
	today       convert.Date
	headerSeen  bool // a non-empty header row was read
}

// cell returns the trimmed value of field f from a row's cells.
func (p *rowParser) cell(cells []string, f field) string {
	n := p.cols[f]
	if n == 0 || n > len(cells) {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(cells[n-1], "\u00a0", " "))
}

// parse parses one row. empty is true when every mapped cell is blank (such rows,
// typically trailing ones, are skipped without a status).
func (p *rowParser) parse(rowNum int, cells []string) (r *staffRow, empty bool) {
	r = &staffRow{Row: rowNum}
	empty = true
	for f := field(0); f < nFields; f++ {
		r.Raw[f] = p.cell(cells, f)
		if r.Raw[f] != "" {
			empty = false
		}
	}
	if empty {
		return r, true
	}
	r.Last = p.name(r, fLast, true)
	r.First = p.name(r, fFirst, true)
	r.Middle = p.name(r, fMiddle, false)
	p.birth(r)
	p.sex(r)
	p.phone(r)
	r.Position = p.text(r, fPosition, maxText)
	r.Department = p.text(r, fDepartment, maxText)
	p.examType(r)
	p.conditions(r)
	p.factorCodes(r)
	return r, false
}

func (p *rowParser) text(r *staffRow, f field, maxLen int) string {
	raw := r.Raw[f]
	if raw == "" {
		return ""
	}
	s, err := convert.Text(raw, 0)
	if err != nil {
		r.fail(f, "недопустимые символы в «%s»", clip(raw))
		return ""
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		r.fail(f, "слишком длинное значение (%d символов, допустимо %d)", n, maxLen)
		return ""
	}
	return s
}

func (p *rowParser) name(r *staffRow, f field, required bool) string {
	if r.Raw[f] == "" {
		if required {
			r.fail(f, "не заполнено")
		}
		return ""
	}
	s := p.text(r, f, maxName)
	if s == "" {
		return ""
	}
	for _, c := range s {
		if !unicode.IsLetter(c) && c != '-' && c != ' ' && c != '\'' && c != '.' {
			r.fail(f, "«%s» содержит недопустимый символ «%c»", clip(s), c)
			return ""
		}
	}
	return tidyCase(s)
}

// tidyCase turns a name typed in ALL CAPS or all lower case into Title case; mixed
// case is kept as typed.
func tidyCase(s string) string {
	hasUpper, hasLower := false, false
	for _, c := range s {
		if unicode.IsUpper(c) {
			hasUpper = true
		} else if unicode.IsLower(c) {
			hasLower = true
		}
	}
	if hasUpper && hasLower {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, c := range s {
		if start {
			b.WriteRune(unicode.ToUpper(c))
		} else {
			b.WriteRune(unicode.ToLower(c))
		}
		start = c == '-' || c == ' ' || c == '\''
	}
	return b.String()
}

func (p *rowParser) birth(r *staffRow) {
	raw := r.Raw[fBirth]
	if raw == "" {
		r.fail(fBirth, "не заполнено")
		return
	}
	d, err := parseDate(raw, p.today)
	if err != nil {
		r.fail(fBirth, "%v", err)
		return
	}
	switch {
	case d.Compare(p.today) > 0:
		r.fail(fBirth, "%s ещё не наступила", ruDate(d))
	case d.Year < p.today.Year-maxAge:
		r.fail(fBirth, "%s — возраст больше %d лет, проверьте год", ruDate(d), maxAge)
	default:
		r.Birth = d
	}
}

// parseDate reads a date as Excel users enter it: a date cell (read raw, an OLE
// serial number), a serial typed as a number, or text dd.mm.yyyy, dd.mm.yy, d/m/yyyy,
// yyyy-mm-dd, optionally followed by a time of day.
func parseDate(s string, today convert.Date) (convert.Date, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		// Serials below 367 (1900) are not birth dates: it is text such as "15.03".
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 367 || v >= 2958466 {
			return convert.Date{}, fmt.Errorf("«%s» — не дата", clip(s))
		}
		d, err := convert.OLEDate(v)
		if err != nil {
			return convert.Date{}, fmt.Errorf("«%s» — не дата", clip(s))
		}
		return d, nil
	}
	if d, ok, err := parseRussianDate(s); ok {
		return d, err
	}
	if i := strings.IndexAny(s, " T"); i > 0 {
		rest := strings.TrimSpace(s[i+1:])
		if rest == "" || strings.ContainsRune(rest, ':') || strings.HasSuffix(rest, "г.") || rest == "г" {
			s = s[:i]
		}
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), "г.")
	s = strings.TrimSpace(strings.TrimSuffix(s, "."))
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '/' || r == '-' || r == ',' })
	bad := fmt.Errorf("«%s» — не дата (ожидается ДД.ММ.ГГГГ)", clip(s))
	if len(parts) != 3 {
		return convert.Date{}, bad
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return convert.Date{}, bad
		}
		n[i] = v
	}
	day, month, year := n[0], n[1], n[2]
	if len(parts[0]) == 4 { // yyyy-mm-dd
		year, month, day = n[0], n[1], n[2]
	} else {
		switch len(parts[2]) {
		case 4:
		case 2:
			year += 2000
			if year > today.Year {
				year -= 100
			}
		default:
			return convert.Date{}, bad
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return convert.Date{}, bad
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day {
		return convert.Date{}, fmt.Errorf("«%s» — такой даты нет", clip(s))
	}
	return convert.Date{Year: year, Month: time.Month(month), Day: day}, nil
}

// ruMonths are month names as written in dates («12 марта 1980 г.», «12 мар 1980»,
// «12 Март 1980»): genitive, nominative, abbreviations.
var ruMonths = map[string]int{}

func init() {
	for i, forms := range [12]string{"января январь янв", "февраля февраль фев февр", "марта март мар", "апреля апрель апр", "мая май",
		"июня июнь июн", "июля июль июл", "августа август авг", "сентября сентябрь сен сент", "октября октябрь окт",
		"ноября ноябрь ноя нояб", "декабря декабрь дек"} {
		for _, w := range strings.Fields(forms) {
			ruMonths[w] = i + 1
		}
	}
}

// parseRussianDate reads «12 марта 1980 г.» / «12 мар. 1980» / «12 марта 1980 года».
// ok is false when s does not have a month name.
func parseRussianDate(s string) (convert.Date, bool, error) {
	words := strings.Fields(strings.ToLower(strings.ReplaceAll(s, ".", " ")))
	if len(words) < 3 || len(words) > 4 || (len(words) == 4 && words[3] != "г" && words[3] != "года" && words[3] != "год") {
		return convert.Date{}, false, nil
	}
	month := ruMonths[words[1]]
	if month == 0 {
		return convert.Date{}, false, nil
	}
	day, err1 := strconv.Atoi(words[0])
	year, err2 := strconv.Atoi(strings.TrimSuffix(words[2], "г"))
	bad := fmt.Errorf("«%s» — не дата (ожидается ДД.ММ.ГГГГ)", clip(s))
	if err1 != nil || err2 != nil || year < 1000 || day < 1 || day > 31 {
		return convert.Date{}, true, bad
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day {
		return convert.Date{}, true, fmt.Errorf("«%s» — такой даты нет", clip(s))
	}
	return convert.Date{Year: year, Month: time.Month(month), Day: day}, true, nil
}

// shownValue is a cell's value as the result workbook shows it: a birth-date serial
// (a date cell that was refused) as the date it stands for.
func shownValue(f field, raw string) string {
	if f != fBirth {
		return raw
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || v < 1 || v >= 2958466 {
		return raw
	}
	d, err := convert.OLEDate(math.Floor(v))
	if err != nil {
		return raw
	}
	return ruDate(d)
}

func (p *rowParser) sex(r *staffRow) {
	raw := strings.ToLower(strings.TrimSuffix(r.Raw[fSex], "."))
	switch raw {
	case "м", "муж", "мужской", "m", "male", "1":
		r.Sex = "M"
	case "ж", "жен", "женский", "f", "female", "2":
		r.Sex = "F"
	case "":
		switch {
		case r.Middle != "":
			r.Sex = convert.SexFromPatronymic(r.Middle, p.patronymics)
			r.SexGuessed = r.Sex != ""
			if r.Sex == "" && r.Raw[fMiddle] != "" && !r.errFields[fMiddle] {
				r.warn(fSex, "не указан и по отчеству «%s» не определяется — в новой карте пол не заполнен; укажите М или Ж", clip(r.Middle))
			}
		case r.Raw[fMiddle] == "":
			r.warn(fMiddle, "не заполнено, и пол не указан — в новой карте пол не заполнен; укажите отчество или пол (М или Ж)")
		}
	default:
		r.fail(fSex, "«%s» — укажите М или Ж (или оставьте пустым: пол определится по отчеству)", clip(r.Raw[fSex]))
	}
}

func (p *rowParser) phone(r *staffRow) {
	raw := r.Raw[fPhone]
	if raw == "" {
		return
	}
	ph, err := convert.Phone(raw)
	if err != nil {
		r.warn(fPhone, "«%s» не похож на номер телефона — строка загружена без телефона", clip(raw))
		return
	}
	r.Phone = ph
}

func (p *rowParser) examType(r *staffRow) {
	raw := r.Raw[fExamType]
	switch n, ok := smallInt(raw); {
	case raw == "":
		r.ExamType = examPeriodic
	case ok && (n == examNotChosen || n == examPreliminary || n == examPeriodic):
		r.ExamType = n
	default:
		r.fail(fExamType, "«%s» — допустимо -1 (не выбран), 0 (предварительный), 1 (периодический) или пусто (периодический)", clip(raw))
	}
}

func (p *rowParser) conditions(r *staffRow) {
	raw := r.Raw[fConditions]
	if raw == "" {
		return
	}
	key := raw
	if n, ok := smallInt(raw); ok {
		key = strconv.Itoa(n)
	}
	c, ok := conditionCodes[key]
	if !ok {
		r.fail(fConditions, "«%s» — допустимо 1, 2, 31, 32, 33, 34, 4 или пусто", clip(raw))
		return
	}
	r.Conditions = c
}

func (p *rowParser) factorCodes(r *staffRow) {
	raw := r.Raw[fFactors]
	if raw == "" {
		return
	}
	seen := map[string]bool{}
	add := func(code string) {
		if !seen[code] {
			seen[code] = true
			r.Factors = append(r.Factors, code)
		}
	}
	for _, item := range splitFactors(raw) {
		code := normalizeFactor(item)
		if code != "" && p.factors.Has(code) {
			add(code)
			continue
		}
		if fix, ok := p.fixes[foldCode(item)]; ok {
			for _, c := range fix {
				add(c)
			}
			to := strings.Join(fix, ", ")
			if to == "" {
				to = "не фактор, пропущен"
			}
			r.Fixed = append(r.Fixed, item+" → "+to)
			continue
		}
		if !contains(r.Unknown, item) {
			r.Unknown = append(r.Unknown, item)
		}
	}
	if len(r.Fixed) > 0 {
		r.Note = joinNote(r.Note, "распознано по прежним исправлениям: "+strings.Join(r.Fixed, "; "))
	}
	if len(r.Unknown) > 0 {
		r.warn(fFactors, "код %s не найден в справочнике — сотрудник загружен без него; впишите верный код на листе «%s» и положите этот файл обратно в папку", clip(strings.Join(r.Unknown, ", ")), sheetRecognize)
	}
	if n := len(strings.Join(r.Factors, ", ")); n > maxFactors {
		r.fail(fFactors, "слишком много кодов (%d символов, допустимо %d)", n, maxFactors)
		r.Factors = nil
	}
}

// smallInt parses an integer typed as text or stored as a number ("1", "1.0", " -1 ").
func smallInt(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || v != math.Trunc(v) || math.Abs(v) > 1e6 {
		return 0, false
	}
	return int(v), true
}

// clip makes a cell value fit for a message: valid UTF-8, no control characters, at
// most 60 characters.
func clip(s string) string {
	const max = 60
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func ruDate(d convert.Date) string {
	return fmt.Sprintf("%02d.%02d.%04d", d.Day, int(d.Month), d.Year)
}
