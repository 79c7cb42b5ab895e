package excel

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"medsync/mapping/convert"
)

// fileError refuses a whole file. Msg is Russian for the result workbook; Log is
// English for the service log.
type fileError struct {
	Msg string
	Log string
}

func (e *fileError) Error() string { return e.Log }

func refuse(msg, logf string, a ...any) *fileError {
	return &fileError{Msg: msg, Log: fmt.Sprintf(logf, a...)}
}

// errResultBook: the file is one of the connector's own result workbooks, dropped back
// into the inbox (with corrections on its recognition sheet).
var errResultBook = errors.New("the file is a result workbook")

// sheetData is what a staff list holds.
type sheetData struct {
	Sheet string
	Rows  []*staffRow // when read without an emit function
	Count int         // data rows read
	Width int         // widest row, in columns
	// CutAt is the last row read when the sheet went on with max_empty_rows empty rows
	// (0: read to its end).
	CutAt int
}

// readStaffList streams the organization's sheet row by row, checks the header row
// against the configured columns and parses the data rows, marking a person who came
// earlier in the file. Each data row goes to emit (or, with emit nil, into the data's
// Rows). The sheet is taken as ended after lim.MaxEmpty empty rows in a row. The
// returned data names the sheet even when the file is refused.
func readStaffList(ctx context.Context, path string, o *orgConfig, p *rowParser, lim readLimits, emit func(*staffRow)) (*sheetData, error) {
	data := &sheetData{}
	b, fe := openBook(path, lim)
	if fe != nil {
		return data, fe
	}
	defer b.Close()
	sheets := b.Sheets()
	if contains(sheets, sheetResult) && contains(sheets, sheetSummary) {
		return data, errResultBook
	}
	sheet := o.Sheet
	if sheet == "" || len(sheets) == 1 && isCSV(path) {
		if len(sheets) == 0 {
			return data, refuse("В книге нет листов.", "the workbook has no sheets")
		}
		sheet = sheets[0]
	}
	if !contains(sheets, sheet) {
		return data, refuse(fmt.Sprintf("В книге нет листа «%s». Листы в книге: %s. Исправьте org.%s.sheet в настройках или переименуйте лист.", sheet, strings.Join(sheets, ", "), o.Code),
			"sheet %q not found (the workbook has: %s); fix org.%s.sheet", sheet, strings.Join(sheets, ", "), o.Code)
	}
	data.Sheet = sheet
	if emit == nil {
		emit = func(r *staffRow) { data.Rows = append(data.Rows, r) }
	}
	seen := map[string]int{}
	headerRow := o.FirstRow - 1
	var failure *fileError
	empties := 0
	err := b.Rows(ctx, sheet, func(rowNum int, cells []string) bool {
		if rowNum == headerRow {
			failure = p.header(o, sheet, rowNum, cells)
			return failure != nil
		}
		if rowNum < o.FirstRow {
			return false
		}
		if o.LastRow > 0 && rowNum > o.LastRow {
			return true
		}
		if len(cells) > data.Width {
			data.Width = len(cells)
		}
		r, empty := p.parse(rowNum, cells)
		if empty {
			empties++
			if empties > lim.MaxEmpty {
				data.CutAt = rowNum
				return true
			}
			return false
		}
		empties = 0
		if data.Count >= lim.MaxRows {
			failure = refuse(fmt.Sprintf("В листе «%s» больше %d строк с данными. Разделите список на несколько файлов.", sheet, lim.MaxRows),
				"sheet %q has more than max_rows = %d data rows; split the file or raise max_rows", sheet, lim.MaxRows)
			return true
		}
		data.Count++
		markDuplicate(seen, r)
		emit(r)
		return false
	})
	if err != nil {
		if ctx.Err() != nil {
			return data, ctx.Err()
		}
		return data, refuse(fmt.Sprintf("Лист «%s» не читается: файл повреждён. Откройте его в Excel или LibreOffice и сохраните заново.", sheet), "sheet %q: %v", sheet, err)
	}
	if failure != nil {
		return data, failure
	}
	if headerRow >= 1 && !p.headerSeen && o.byTitle() {
		return data, refuse(fmt.Sprintf("В листе «%s» нет строки заголовка (строка %d пустая), а столбцы в настройках заданы названиями.", sheet, headerRow),
			"sheet %q: header row %d is empty but org.%s.col.* give column titles", sheet, headerRow, o.Code)
	}
	if data.Count == 0 {
		last := "до конца листа"
		if o.LastRow > 0 {
			last = fmt.Sprintf("по %d", o.LastRow)
		}
		return data, refuse(fmt.Sprintf("В листе «%s» нет строк с данными в строках с %d %s.", sheet, o.FirstRow, last),
			"sheet %q has no data rows from row %d (first_row/last_row of org.%s)", sheet, o.FirstRow, o.Code)
	}
	for _, fl := range requiredFields {
		if c := p.cols[fl]; c > data.Width {
			return data, refuse(fmt.Sprintf("Столбец %s («%s») — за пределами таблицы: в листе «%s» заполнены только столбцы A–%s. Проверьте настройку org.%s.col.%s.",
				colName(c), fieldTitles[fl], sheet, colName(max(data.Width, 1)), o.Code, fieldKeys[fl]),
				"column %s (%s) is outside sheet %q, which has data only in columns A-%s; fix org.%s.col.%s",
				colName(c), fieldKeys[fl], sheet, colName(max(data.Width, 1)), o.Code, fieldKeys[fl])
		}
	}
	return data, nil
}

func isCSV(path string) bool { return strings.EqualFold(filepath.Ext(path), ".csv") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// markDuplicate marks a row whose person (folded names and birth date) came in an
// earlier row of the file; it is not written again.
func markDuplicate(first map[string]int, r *staffRow) {
	if !r.Valid() {
		return
	}
	key := convert.FoldName(r.Last) + "|" + convert.FoldName(r.First) + "|" + convert.FoldName(r.Middle) + "|" + r.Birth.String()
	if prev, dup := first[key]; dup {
		r.Status = statusDuplicate
		r.Note = fmt.Sprintf("тот же сотрудник, что в строке %d, — повторно не добавлен", prev)
		return
	}
	first[key] = r.Row
}

// rowStream reads a staff list in its own goroutine while the rows already read are
// written to the MIS.
type rowStream struct {
	ch   chan *staffRow
	data *sheetData // valid once ch is closed
	err  error      // valid once ch is closed
}

func startReading(ctx context.Context, path string, o *orgConfig, p *rowParser, lim readLimits) *rowStream {
	s := &rowStream{ch: make(chan *staffRow, 512)}
	go func() {
		s.data, s.err = readStaffList(ctx, path, o, p, lim, func(r *staffRow) { s.ch <- r })
		close(s.ch)
	}()
	return s
}

// next returns the next data row, or nil at the end (then data and err are set).
func (s *rowStream) next() *staffRow {
	r, ok := <-s.ch
	if !ok {
		return nil
	}
	return r
}
