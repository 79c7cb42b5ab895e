package excel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Row statuses in result workbooks.
const (
	statusLoaded  = "Загружен"
	statusRefused = "Отклонён"
	statusListed  = "Уже в списке"
)

const (
	sheetResult  = "Результат"
	sheetSummary = "Итог"
)

// resultInfo is the file-level part of a result workbook.
type resultInfo struct {
	Source  string // original file name
	Org     *orgConfig
	Sheet   string
	At      time.Time
	Message string // file-level outcome, Russian
}

// styles used in result and export workbooks.
type styles struct {
	header, date, time, text, bad, warn, wrap int
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
	dateFmt, timeFmt, textFmt := "dd.mm.yyyy", "hh:mm", "@"
	s.date = mk(&excelize.Style{CustomNumFmt: &dateFmt})
	s.time = mk(&excelize.Style{CustomNumFmt: &timeFmt})
	s.text = mk(&excelize.Style{CustomNumFmt: &textFmt})
	s.bad = mk(&excelize.Style{CustomNumFmt: &textFmt, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFC7CE"}}, Font: &excelize.Font{Color: "9C0006"}})
	s.warn = mk(&excelize.Style{CustomNumFmt: &textFmt, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFEB9C"}}, Font: &excelize.Font{Color: "9C5700"}})
	s.wrap = mk(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	return s, err
}

// resultPath is where the result workbook of a processed file goes.
func resultPath(dir, name string) string {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	return filepath.Join(dir, base+"_результат.xlsx")
}

// writeResult writes the Russian result workbook: every data row with its status and
// reasons (refused cells red, warnings yellow, header frozen), and a summary sheet.
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
	sw, err := f.NewStreamWriter(sheetResult)
	if err != nil {
		return err
	}
	ncol := int(nFields) + 3
	widths := []float64{8, 18, 14, 18, 13, 6, 16, 22, 22, 11, 11, 18, 14, 60}
	for i, w := range widths {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, 0, ncol)
	head = append(head, excelize.Cell{StyleID: st.header, Value: "Строка"})
	for f := field(0); f < nFields; f++ {
		head = append(head, excelize.Cell{StyleID: st.header, Value: fieldTitles[f]})
	}
	head = append(head, excelize.Cell{StyleID: st.header, Value: "Статус"}, excelize.Cell{StyleID: st.header, Value: "Причины"})
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	counts := map[string]int{}
	vals := make([]any, ncol)
	for i, r := range rows {
		counts[r.Status]++
		vals[0] = r.Row
		for f := field(0); f < nFields; f++ {
			style := st.text
			switch {
			case r.errFields[f]:
				style = st.bad
			case r.warnFields[f]:
				style = st.warn
			}
			var v any = r.Raw[f]
			if f == fBirth && !r.Birth.IsZero() {
				v, style = r.Birth.In(time.UTC), st.date
			}
			if f == fSex && r.SexGuessed {
				v = map[string]string{"M": "М (по отчеству)", "F": "Ж (по отчеству)"}[r.Sex]
			}
			vals[int(f)+1] = excelize.Cell{StyleID: style, Value: v}
		}
		vals[ncol-2] = r.Status
		vals[ncol-1] = r.Reasons()
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if len(rows) > 0 {
		last, _ := excelize.CoordinatesToCellName(ncol, len(rows)+1)
		if err := sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: "StaffResult", StyleName: "TableStyleLight1", ShowRowStripes: boolPtr(false)}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}

	if _, err := f.NewSheet(sheetSummary); err != nil {
		return err
	}
	org := info.Org.Name
	if org != info.Org.Code {
		org += " (" + info.Org.Code + ")"
	}
	summary := [][2]any{
		{"Файл", info.Source},
		{"Организация", org},
		{"Лист", info.Sheet},
		{"Обработан", info.At.Format("02.01.2006 15:04")},
		{"Строк с данными", len(rows)},
		{statusLoaded, counts[statusLoaded]},
		{statusListed, counts[statusListed]},
		{statusRefused, counts[statusRefused]},
		{"Итог", info.Message},
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
	_ = f.SetColWidth(sheetSummary, "A", "A", 20)
	_ = f.SetColWidth(sheetSummary, "B", "B", 90)
	if len(rows) == 0 {
		// Nothing to list: open on the summary.
		if idx, err := f.GetSheetIndex(sheetSummary); err == nil {
			f.SetActiveSheet(idx)
		}
	}
	return saveAtomic(f, path)
}

func boolPtr(b bool) *bool { return &b }

// saveAtomic writes the workbook to a temporary file in the target folder and renames
// it into place, so a half-written workbook never appears under its real name.
func saveAtomic(f *excelize.File, path string) error {
	dir := filepath.Dir(path)
	if err := ensureDir(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".medsync-*.tmp")
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
