package excel

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
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

// sheetData is what a staff list holds.
type sheetData struct {
	Sheet string
	Rows  []*staffRow
	Width int // widest row, in columns
}

var oleHeader = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// sniff checks the file's first bytes so that a password-protected workbook, an old
// .xls, an empty file or something else renamed to .xlsx each get their own message.
func sniff(path string) *fileError {
	f, err := os.Open(path)
	if err != nil {
		return refuse("Файл не удалось открыть: "+err.Error(), "open: %v", err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case n == 0:
		return refuse("Файл пустой (0 байт).", "the file is empty (0 bytes)")
	case bytes.HasPrefix(head, oleHeader):
		rest, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		if bytes.Contains(append(head, rest...), utf16le("EncryptionInfo")) {
			return refuse("Файл защищён паролем. Снимите пароль в Excel («Файл» → «Сведения» → «Защитить книгу» → «Зашифровать с паролем», очистить поле) и положите файл снова.",
				"the workbook is password-protected; ask for a copy without a password")
		}
		return refuse("Файл в старом формате Excel 97–2003 (.xls). Откройте его в Excel и сохраните как «Книга Excel (.xlsx)».",
			"the file is an old .xls (Excel 97-2003) workbook renamed to .xlsx; save it as .xlsx")
	case !bytes.HasPrefix(head, []byte("PK")):
		return refuse("Файл не является книгой Excel (.xlsx). Сохраните список в Excel как «Книга Excel (.xlsx)».",
			"the file is not an xlsx workbook (no zip signature)")
	}
	return nil
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

// readStaffList streams the organization's sheet row by row and parses the data rows.
func readStaffList(ctx context.Context, path string, o *orgConfig, p *rowParser, maxRows int) (*sheetData, error) {
	if fe := sniff(path); fe != nil {
		return nil, fe
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, excelize.ErrWorkbookFileFormat) || strings.Contains(err.Error(), "zip") {
			return nil, refuse("Файл повреждён или не является книгой Excel (.xlsx): "+err.Error(), "not a readable xlsx workbook: %v", err)
		}
		return nil, refuse("Файл не удалось прочитать: "+err.Error(), "open workbook: %v", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	sheet := o.Sheet
	if sheet == "" {
		if len(sheets) == 0 {
			return nil, refuse("В книге нет листов.", "the workbook has no sheets")
		}
		sheet = sheets[0]
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		var ne excelize.ErrSheetNotExist
		if errors.As(err, &ne) {
			return nil, refuse(fmt.Sprintf("В книге нет листа «%s». Листы в книге: %s. Исправьте org.%s.sheet в настройках или переименуйте лист.", sheet, strings.Join(sheets, ", "), o.Code),
				"sheet %q not found (the workbook has: %s); fix org.%s.sheet", sheet, strings.Join(sheets, ", "), o.Code)
		}
		return nil, refuse("Лист «"+sheet+"» не удалось прочитать: "+err.Error(), "sheet %q: %v", sheet, err)
	}
	defer rows.Close()
	data := &sheetData{Sheet: sheet}
	raw := excelize.Options{RawCellValue: true}
	rowNum := 0
	for rows.Next() {
		rowNum++
		if rowNum < o.FirstRow {
			continue
		}
		if o.LastRow > 0 && rowNum > o.LastRow {
			break
		}
		if rowNum%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		cells, err := rows.Columns(raw)
		if err != nil {
			return nil, refuse(fmt.Sprintf("Лист «%s», строка %d не читается: %v", sheet, rowNum, err), "sheet %q row %d: %v", sheet, rowNum, err)
		}
		if len(cells) > data.Width {
			data.Width = len(cells)
		}
		r, empty := p.parse(rowNum, cells)
		if empty {
			continue
		}
		if len(data.Rows) >= maxRows {
			return nil, refuse(fmt.Sprintf("В листе «%s» больше %d строк с данными. Разделите список на несколько файлов.", sheet, maxRows),
				"sheet %q has more than max_rows = %d data rows; split the file or raise max_rows", sheet, maxRows)
		}
		data.Rows = append(data.Rows, r)
	}
	if err := rows.Error(); err != nil {
		return nil, refuse(fmt.Sprintf("Лист «%s» не читается после строки %d: %v", sheet, rowNum, err), "sheet %q after row %d: %v", sheet, rowNum, err)
	}
	if len(data.Rows) == 0 {
		last := "до конца листа"
		if o.LastRow > 0 {
			last = fmt.Sprintf("по %d", o.LastRow)
		}
		return nil, refuse(fmt.Sprintf("В листе «%s» нет строк с данными в строках с %d %s.", sheet, o.FirstRow, last),
			"sheet %q has no data rows from row %d (first_row/last_row of org.%s)", sheet, o.FirstRow, o.Code)
	}
	for _, fl := range requiredFields {
		if c := o.Cols[fl]; c > data.Width {
			return nil, refuse(fmt.Sprintf("Столбец %s («%s») — за пределами таблицы: в листе «%s» заполнены только столбцы A–%s. Проверьте настройку org.%s.col.%s.",
				colName(c), fieldTitles[fl], sheet, colName(max(data.Width, 1)), o.Code, fieldKeys[fl]),
				"column %s (%s) is outside sheet %q, which has data only in columns A-%s; fix org.%s.col.%s",
				colName(c), fieldKeys[fl], sheet, colName(max(data.Width, 1)), o.Code, fieldKeys[fl])
		}
	}
	return data, nil
}
