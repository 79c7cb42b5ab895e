package excel

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Row statuses in result workbooks.
const (
	statusLoaded  = "Загружен"
	statusRefused = "Отклонён"
	statusListed  = "Уже в списке"
	// statusDuplicate: the same person came earlier in the same file.
	statusDuplicate = "Повтор"
)

const (
	sheetResult    = "Результат"
	sheetSummary   = "Итог"
	sheetRecognize = "Распознать вредные факторы"
	// Titles the recognition sheet and the summary are read back by.
	recogTyped      = "Код в файле"
	recogCode       = "Код из справочника"
	summaryImportID = "Номер загрузки"
)

// resultInfo is the file-level part of a result workbook.
type resultInfo struct {
	Source  string // original file name
	Org     *orgConfig
	Sheet   string
	At      time.Time
	Message string // file-level outcome, Russian
	// ImportID names a loaded import for the recognition of its unknown codes ("" when
	// nothing of the file was loaded).
	ImportID string
}

// styles used in result and export workbooks.
type styles struct {
	header, date, time, text, bad, warn, wrap, input int
}

func newStyles(f *excelize.File) (*styles, error) {
	s := &styles{}
	var err error
	mk := func(st *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(st)
		return id
	}
	border := []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}}
	s.header = mk(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border: border, Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}})
	// Every cell wraps within its column and sits at the top: a long value grows its row
	// (rows are given the height their wrapped text needs) instead of being clipped.
	dateFmt, timeFmt, textFmt := "dd.mm.yyyy", "hh:mm", "@"
	top := &excelize.Alignment{Vertical: "top"}
	wrap := &excelize.Alignment{WrapText: true, Vertical: "top"}
	s.date = mk(&excelize.Style{CustomNumFmt: &dateFmt, Alignment: top})
	s.time = mk(&excelize.Style{CustomNumFmt: &timeFmt, Alignment: top})
	s.text = mk(&excelize.Style{CustomNumFmt: &textFmt, Alignment: wrap})
	s.bad = mk(&excelize.Style{CustomNumFmt: &textFmt, Alignment: wrap, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFC7CE"}}, Font: &excelize.Font{Color: "9C0006"}})
	s.warn = mk(&excelize.Style{CustomNumFmt: &textFmt, Alignment: wrap, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFEB9C"}}, Font: &excelize.Font{Color: "9C5700"}})
	s.wrap = mk(&excelize.Style{Alignment: wrap})
	s.input = mk(&excelize.Style{CustomNumFmt: &textFmt, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFF2CC"}},
		Border:     []excelize.Border{{Type: "left", Color: "808080", Style: 1}, {Type: "right", Color: "808080", Style: 1}, {Type: "top", Color: "808080", Style: 1}, {Type: "bottom", Color: "808080", Style: 1}},
		Protection: &excelize.Protection{Locked: false}})
	return s, err
}

// resultPath is where the result workbook of a processed file goes.
func resultPath(dir, name string) string {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	return filepath.Join(dir, base+"_результат.xlsx")
}

// writeResult writes the Russian result workbook: every data row with its status and
// reasons (refused cells red, warnings yellow, header frozen), the sheet «Распознать
// вредные факторы» when some codes were not recognised, and a summary sheet. Every
// sheet prints landscape, fitted to the page width, with the header row repeated.
func writeResult(path string, info resultInfo, rows []*staffRow) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheetResult); err != nil {
		return err
	}
	st, err := newStyles(f)
	if err != nil {
		return err
	}
	counts, err := writeResultRows(f, st, rows)
	if err != nil {
		return err
	}
	if info.ImportID != "" {
		if err := writeRecognition(f, st, rows); err != nil {
			return err
		}
	}
	if err := writeSummary(f, st, info, rows, counts); err != nil {
		return err
	}
	return saveAtomic(f, path)
}

// resultHeaders are the titles of the sheet «Результат».
func resultHeaders() []string {
	h := []string{"Строка"}
	for f := field(0); f < nFields; f++ {
		h = append(h, fieldTitles[f])
	}
	return append(h, "Статус", "Причины")
}

// resultValue is the value of field f of a row as the result shows it, with its style.
func resultValue(st *styles, r *staffRow, f field) (any, int) {
	style := st.text
	switch {
	case r.errFields[f]:
		style = st.bad
	case r.warnFields[f]:
		style = st.warn
	}
	switch {
	case f == fBirth && !r.Birth.IsZero():
		return r.Birth.In(time.UTC), st.date
	case f == fSex && r.SexGuessed:
		return map[string]string{"M": "М (по отчеству)", "F": "Ж (по отчеству)"}[r.Sex], style
	}
	return shownValue(f, r.Raw[f]), style
}

func writeResultRows(f *excelize.File, st *styles, rows []*staffRow) (map[string]int, error) {
	headers := resultHeaders()
	ncol := len(headers)
	w := newWidths(headers)
	w.max[ncol-1] = 70
	for _, r := range rows {
		w.fitLen(0, len(strconv.Itoa(r.Row)))
		for f := field(0); f < nFields; f++ {
			switch v, _ := resultValue(st, r, f); x := v.(type) {
			case time.Time:
				w.fitLen(int(f)+1, 10)
			case string:
				w.fit(int(f)+1, x)
			}
		}
		w.fit(ncol-2, r.Status)
		w.fit(ncol-1, r.Reasons())
	}
	if err := printSetup(f, sheetResult); err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter(sheetResult)
	if err != nil {
		return nil, err
	}
	if err := w.apply(sw); err != nil {
		return nil, err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	if err := sw.SetRow("A1", headerCells(st, headers), excelize.RowOpts{Height: w.headerHeight()}); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	vals := make([]any, ncol)
	texts := make([]string, ncol)
	for i, r := range rows {
		counts[r.Status]++
		vals[0] = excelize.Cell{StyleID: st.wrap, Value: r.Row}
		for f := field(0); f < nFields; f++ {
			v, style := resultValue(st, r, f)
			vals[int(f)+1] = excelize.Cell{StyleID: style, Value: v}
			texts[int(f)+1] = ""
			if s, ok := v.(string); ok {
				texts[int(f)+1] = s
			}
		}
		vals[ncol-2] = excelize.Cell{StyleID: st.wrap, Value: r.Status}
		vals[ncol-1] = excelize.Cell{StyleID: st.wrap, Value: r.Reasons()}
		texts[ncol-2], texts[ncol-1] = r.Status, r.Reasons()
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, vals, w.rowOpts(texts)...); err != nil {
			return nil, err
		}
	}
	if len(rows) > 0 {
		last, _ := excelize.CoordinatesToCellName(ncol, len(rows)+1)
		if err := sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: "StaffResult", StyleName: "TableStyleLight1", ShowRowStripes: boolPtr(false)}); err != nil {
			return nil, err
		}
	}
	return counts, sw.Flush()
}

// writeSummary writes the sheet «Итог».
func writeSummary(f *excelize.File, st *styles, info resultInfo, rows []*staffRow, counts map[string]int) error {
	if _, err := f.NewSheet(sheetSummary); err != nil {
		return err
	}
	sheet := info.Sheet
	if sheet == "" {
		sheet = "—"
	}
	summary := [][2]any{
		{"Файл", info.Source},
		{"Организация", orgWithCode(info.Org)},
		{"Лист", sheet},
		{"Обработан", info.At.Format("02.01.2006 15:04")},
		{"Строк с данными", len(rows)},
		{statusLoaded, counts[statusLoaded]},
		{statusListed, counts[statusListed]},
		{statusRefused, counts[statusRefused]},
		{"Итог", info.Message},
	}
	if counts[statusDuplicate] > 0 {
		summary = append(summary, [2]any{statusDuplicate, counts[statusDuplicate]})
	}
	if info.ImportID != "" {
		summary = append(summary, [2]any{summaryImportID, info.ImportID})
	}
	for i, kv := range summary {
		a, _ := excelize.CoordinatesToCellName(1, i+1)
		b, _ := excelize.CoordinatesToCellName(2, i+1)
		if err := f.SetCellValue(sheetSummary, a, kv[0]); err != nil {
			return err
		}
		if err := f.SetCellValue(sheetSummary, b, kv[1]); err != nil {
			return err
		}
	}
	_ = f.SetCellStyle(sheetSummary, "A1", fmt.Sprintf("A%d", len(summary)), st.header)
	_ = f.SetCellStyle(sheetSummary, "B1", fmt.Sprintf("B%d", len(summary)), st.wrap)
	_ = f.SetColWidth(sheetSummary, "A", "A", 22)
	_ = f.SetColWidth(sheetSummary, "B", "B", 90)
	if err := printSetup(f, sheetSummary); err != nil {
		return err
	}
	if len(rows) == 0 {
		// Nothing to list: open on the summary.
		if idx, err := f.GetSheetIndex(sheetSummary); err == nil {
			f.SetActiveSheet(idx)
		}
	}
	return nil
}

func orgWithCode(o *orgConfig) string {
	if o.Name == o.Code {
		return o.Name
	}
	return o.Name + " (" + o.Code + ")"
}

// printSetup makes a sheet print landscape, one page wide (as many pages long as it
// needs), with its first row repeated on every page. Call it before the sheet's stream
// writer is made.
func printSetup(f *excelize.File, sheet string) error {
	landscape, one, zero, paperA4 := "landscape", 1, 0, 9
	if err := f.SetPageLayout(sheet, &excelize.PageLayoutOptions{Size: &paperA4, Orientation: &landscape, FitToWidth: &one, FitToHeight: &zero}); err != nil {
		return err
	}
	fit := true
	if err := f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return err
	}
	margin := 0.4
	if err := f.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{Left: &margin, Right: &margin, Top: &margin, Bottom: &margin}); err != nil {
		return err
	}
	return f.SetDefinedName(&excelize.DefinedName{Name: "_xlnm.Print_Titles", RefersTo: "'" + sheet + "'!$1:$1", Scope: sheet})
}

// widths sizes columns to their contents: the longest value (in characters) within
// limits; a header wider than its column wraps, and the header row grows to show it.
type widths struct {
	headers  []string
	min, max []float64
	w        []float64
}

func newWidths(headers []string) *widths {
	w := &widths{headers: headers, min: make([]float64, len(headers)), max: make([]float64, len(headers)), w: make([]float64, len(headers))}
	for i, h := range headers {
		longest := 0
		for _, word := range strings.Fields(h) {
			longest = max(longest, utf8.RuneCountInString(word))
		}
		w.min[i] = float64(longest) + 2
		w.max[i] = 45
		w.w[i] = w.min[i]
	}
	return w
}

func (w *widths) fit(col int, s string) {
	n, line := 0, 0
	for _, r := range s {
		if r == '\n' {
			line = 0
			continue
		}
		line++
		n = max(n, line)
	}
	w.fitLen(col, n)
}

// fitLen widens column col for a value n characters long (within the column's limit).
func (w *widths) fitLen(col, n int) {
	w.w[col] = max(w.w[col], min(float64(n)+2, w.max[col]))
}

func (w *widths) apply(sw *excelize.StreamWriter) error {
	for i, v := range w.w {
		if err := sw.SetColWidth(i+1, i+1, v); err != nil {
			return err
		}
	}
	return nil
}

// headerHeight is the height in points of a header row whose titles wrap (word by
// word) to fit their columns.
func (w *widths) headerHeight() float64 {
	lines := 1
	for i, h := range w.headers {
		per := int(w.w[i]) - 1
		n, line := 1, 0
		for _, word := range strings.Fields(h) {
			l := utf8.RuneCountInString(word)
			switch {
			case line == 0:
				line = l
			case line+1+l > per:
				n++
				line = l
			default:
				line += 1 + l
			}
		}
		lines = max(lines, n)
	}
	return float64(lines)*15 + 4
}

// lines is how many lines s takes wrapped in column i.
func (w *widths) lines(i int, s string) int {
	per := max(int(w.w[i])-1, 1)
	n := 0
	for _, para := range strings.Split(s, "\n") {
		l := utf8.RuneCountInString(para)
		n += max(1, (l+per-1)/per)
	}
	return n
}

// rowOpts gives a data row the height its wrapped texts need (none when one line).
func (w *widths) rowOpts(texts []string) []excelize.RowOpts {
	n := 1
	for i, s := range texts {
		if s != "" {
			n = max(n, w.lines(i, s))
		}
	}
	if n == 1 {
		return nil
	}
	return []excelize.RowOpts{{Height: float64(n)*15 + 2}}
}

func headerCells(st *styles, headers []string) []any {
	out := make([]any, len(headers))
	for i, h := range headers {
		out[i] = excelize.Cell{StyleID: st.header, Value: h}
	}
	return out
}

// writeRecognition writes the sheet «Распознать вредные факторы»: each typed code that
// is not in the code table, the rows it came from, and an empty «Код из справочника»
// for the registrar. The workbook dropped back into the inbox applies what was written.
func writeRecognition(f *excelize.File, st *styles, rows []*staffRow) error {
	type entry struct {
		code  string
		rows  []string
		names []string
	}
	var list []*entry
	byCode := map[string]*entry{}
	for _, r := range rows {
		if r.Status != statusLoaded {
			continue
		}
		for _, u := range r.Unknown {
			e := byCode[foldCode(u)]
			if e == nil {
				e = &entry{code: u}
				byCode[foldCode(u)] = e
				list = append(list, e)
			}
			e.rows = append(e.rows, fmt.Sprint(r.Row))
			if len(e.names) < 3 {
				e.names = append(e.names, strings.TrimSpace(r.Last+" "+r.First))
			}
		}
	}
	if len(list) == 0 {
		return nil
	}
	if _, err := f.NewSheet(sheetRecognize); err != nil {
		return err
	}
	headers := []string{recogTyped, "Строки файла", "Сотрудники", recogCode}
	w := newWidths(headers)
	w.w[3] = 22
	data := make([][]string, len(list))
	for i, e := range list {
		names := strings.Join(e.names, ", ")
		if len(e.rows) > len(e.names) {
			names += fmt.Sprintf(" и ещё %d", len(e.rows)-len(e.names))
		}
		data[i] = []string{e.code, strings.Join(e.rows, ", "), names}
		for j, v := range data[i] {
			w.fit(j, v)
		}
	}
	if err := printSetup(f, sheetRecognize); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheetRecognize)
	if err != nil {
		return err
	}
	if err := w.apply(sw); err != nil {
		return err
	}
	if err := sw.SetRow("A1", headerCells(st, headers), excelize.RowOpts{Height: w.headerHeight()}); err != nil {
		return err
	}
	for i, d := range data {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, []any{excelize.Cell{StyleID: st.text, Value: d[0]}, excelize.Cell{StyleID: st.wrap, Value: d[1]},
			excelize.Cell{StyleID: st.wrap, Value: d[2]}, excelize.Cell{StyleID: st.input, Value: ""}}, w.rowOpts(d)...); err != nil {
			return err
		}
	}
	note, _ := excelize.CoordinatesToCellName(1, len(data)+3)
	if err := sw.SetRow(note, []any{"Впишите в столбец «" + recogCode + "» верный код (несколько — через запятую; «-», если это не вредный фактор), сохраните книгу и положите её обратно в папку организации: коды будут исправлены в списке профосмотра и запомнены для этой организации."}); err != nil {
		return err
	}
	return sw.Flush()
}

func boolPtr(b bool) *bool { return &b }

// saveAtomic writes the workbook to a temporary file in the target folder and renames
// it into place, so a half-written workbook never appears under its real name.
func saveAtomic(f *excelize.File, path string) error {
	dir := filepath.Dir(path)
	if err := ensureDir(dir); err != nil {
		return err
	}
	tmp, err := createNormal(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := f.WriteTo(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write %s: rename from %s: %w (is the file open in Excel?)", path, tmpName, err)
	}
	ok = true
	return nil
}

// createNormal creates a new temporary file in dir with the permissions any new file
// there gets (0666 less the umask; on Windows the folder's inherited rights), not the
// 0600 of os.CreateTemp: result and export workbooks are read by other accounts and
// over the clinic's file share.
func createNormal(dir string) (*os.File, error) {
	var b [8]byte
	for i := 0; i < 100; i++ {
		_, _ = rand.Read(b[:])
		f, err := os.OpenFile(filepath.Join(dir, ".medsync-"+hex.EncodeToString(b[:])+".tmp"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}
