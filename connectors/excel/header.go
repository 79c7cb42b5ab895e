package excel

import (
	"fmt"
	"strings"
	"unicode"
)

// fieldAliases are the header titles (folded: lower case, ё = е, only letters and
// digits) employers use for each field. The first is the title in fieldTitles.
var fieldAliases = [nFields][]string{
	fLast:       {"фамилия"},
	fFirst:      {"имя"},
	fMiddle:     {"отчество"},
	fBirth:      {"датарождения", "датарожд", "дата", "др", "годрождения"},
	fSex:        {"пол"},
	fPhone:      {"телефон", "тел", "телефонмобильный", "мобильныйтелефон", "номертелефона", "контактныйтелефон"},
	fPosition:   {"должность", "профессия", "профессиядолжность", "должностьпрофессия"},
	fDepartment: {"подразделение", "структурноеподразделение", "отдел", "цех", "участок"},
	fExamType:   {"видосмотра", "видпрофосмотра", "видмедосмотра", "типосмотра"},
	fConditions: {"условиятруда", "классусловийтруда", "класструда"},
	fFactors:    {"вредныефакторы", "вредныеиопасныефакторы", "вредныйфактор", "факторы", "пунктыприказа", "пунктприказа", "пункты", "кодывредныхфакторов"},
}

// foldTitle makes a header title comparable: lower case, ё = е, letters and digits only.
func foldTitle(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == 'ё':
			b.WriteRune('е')
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// titleField returns the field a header title names, or -1.
func titleField(title string) field {
	t := foldTitle(title)
	if t == "" {
		return -1
	}
	for f := field(0); f < nFields; f++ {
		for _, a := range fieldAliases[f] {
			if t == a {
				return f
			}
		}
	}
	return -1
}

// header checks the header row (the row before first_row). Columns given by title are
// looked up; a column given by letter whose title names another field refuses the file,
// naming both columns (a file with Имя and Фамилия swapped is not loaded with surname
// «Михаил»). Titles the connector does not know are accepted.
func (p *rowParser) header(o *orgConfig, sheet string, row int, cells []string) *fileError {
	titles := make([]string, len(cells))
	any := false
	for i, c := range cells {
		titles[i] = strings.TrimSpace(strings.ReplaceAll(c, "\u00a0", " "))
		any = any || titles[i] != ""
	}
	if !any {
		return nil
	}
	p.headerSeen = true
	for f := field(0); f < nFields; f++ {
		want := o.Titles[f]
		if want == "" {
			continue
		}
		col := 0
		for i, t := range titles {
			if foldTitle(t) == foldTitle(want) {
				col = i + 1
				break
			}
		}
		if col == 0 {
			return refuse(fmt.Sprintf("В заголовке листа «%s» (строка %d) нет столбца «%s» (%s, настройка org.%s.col.%s). Столбцы в заголовке: %s.",
				sheet, row, want, fieldTitles[f], o.Code, fieldKeys[f], quoteList(titles)),
				"sheet %q header row %d has no column titled %q (org.%s.col.%s)", sheet, row, want, o.Code, fieldKeys[f])
		}
		p.cols[f] = col
	}
	used := map[int]field{}
	for f := field(0); f < nFields; f++ {
		c := p.cols[f]
		if c == 0 {
			continue
		}
		if g, dup := used[c]; dup {
			return refuse(fmt.Sprintf("По настройкам столбец %s листа «%s» — и «%s», и «%s». Исправьте org.%s.col.%s или org.%s.col.%s.",
				colName(c), sheet, fieldTitles[g], fieldTitles[f], o.Code, fieldKeys[g], o.Code, fieldKeys[f]),
				"sheet %q: column %s is both %s and %s (org.%s.col.*)", sheet, colName(c), fieldKeys[g], fieldKeys[f], o.Code)
		}
		used[c] = f
	}
	for f := field(0); f < nFields; f++ {
		c := p.cols[f]
		if c == 0 || c > len(titles) || o.Titles[f] != "" {
			continue
		}
		g := titleField(titles[c-1])
		if g < 0 || g == f {
			continue
		}
		msg := fmt.Sprintf("Заголовок не совпадает с настройкой: по настройке в столбце %s — «%s», а в заголовке листа «%s» (строка %d) столбец %s называется «%s».",
			colName(c), fieldTitles[f], sheet, row, colName(c), titles[c-1])
		if real := findTitle(titles, f); real > 0 {
			msg += fmt.Sprintf(" «%s» в файле — столбец %s.", fieldTitles[f], colName(real))
		}
		msg += fmt.Sprintf(" Файл не загружен. Проверьте порядок столбцов в файле или настройки org.%s.col.%s и org.%s.col.%s.", o.Code, fieldKeys[f], o.Code, fieldKeys[g])
		return refuse(msg, "sheet %q header row %d: column %s is configured as %s (org.%s.col.%s) but titled %q, which is %s",
			sheet, row, colName(c), fieldKeys[f], o.Code, fieldKeys[f], titles[c-1], fieldKeys[g])
	}
	return nil
}

// findTitle returns the 1-based column whose title names field f, or 0.
func findTitle(titles []string, f field) int {
	for i, t := range titles {
		if titleField(t) == f {
			return i + 1
		}
	}
	return 0
}

func quoteList(titles []string) string {
	var out []string
	for _, t := range titles {
		if t != "" {
			out = append(out, "«"+clip(t)+"»")
		}
	}
	if len(out) == 0 {
		return "нет"
	}
	return strings.Join(out, ", ")
}
