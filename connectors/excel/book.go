package excel

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
)

// book is a workbook being read: an .xlsx (excelize's streaming reader), an .ods
// (OpenDocument, read here) or a .csv (one sheet named after the file).
type book interface {
	Sheets() []string
	// Rows calls fn with each row of sheet in order: its 1-based number and the raw
	// cell values (date cells as serial day numbers). fn returns stop to end early.
	Rows(ctx context.Context, sheet string, fn func(row int, cells []string) (stop bool)) error
	Close() error
}

// readLimits bound what one file may cost before and while it is read.
type readLimits struct {
	MaxUnpacked int64 // bytes of the unpacked parts of a zip-based workbook
	MaxRows     int   // data rows
	MaxEmpty    int   // consecutive empty rows after which the sheet is taken as ended
}

// Formats the inbox takes (lower-case extensions).
var bookFormats = map[string]bool{".xlsx": true, ".xlsm": true, ".ods": true, ".csv": true}

// Formats that are recognised but not read: the file is moved to failed/ with a
// message saying how to save it.
var refusedFormats = map[string]string{
	".xls":  "Файл в старом формате Excel 97–2003 (.xls), такие файлы не читаются. Откройте его в Excel или LibreOffice и сохраните как «Книга Excel (.xlsx)», затем положите в папку снова.",
	".xlsb": "Файл в двоичном формате Excel (.xlsb), такие файлы не читаются. Откройте его в Excel и сохраните как «Книга Excel (.xlsx)», затем положите в папку снова.",
}

// unknownFormatMsg is the result for a file whose extension is neither read nor known.
func unknownFormatMsg(name string) string {
	return fmt.Sprintf("Файл «%s» — не список сотрудников в поддерживаемом формате. Принимаются книги Excel (.xlsx), LibreOffice (.ods) и таблицы .csv. Сохраните список в одном из этих форматов и положите в папку снова.", name)
}

var oleHeader = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// openBook opens path by its extension after checking its first bytes, so that a
// password-protected workbook, an old .xls renamed, an empty file or something else
// each get their own message, and a zip whose parts unpack to more than the limit is
// refused before anything is unpacked.
func openBook(path string, lim readLimits) (book, *fileError) {
	ext := strings.ToLower(filepath.Ext(path))
	f, err := os.Open(path)
	if err != nil {
		return nil, refuse("Файл не удалось открыть: "+ruOSError(err), "open: %v", err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	isZip := bytes.HasPrefix(head, []byte("PK\x03\x04"))
	switch {
	case n == 0:
		return nil, refuse("Файл пустой (0 байт).", "the file is empty (0 bytes)")
	case bytes.HasPrefix(head, oleHeader):
		rest, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		if bytes.Contains(append(head, rest...), utf16le("EncryptionInfo")) {
			return nil, refuse("Файл защищён паролем. Снимите пароль в Excel («Файл» → «Сведения» → «Защитить книгу» → «Зашифровать с паролем», очистить поле) и положите файл снова.",
				"the workbook is password-protected; ask for a copy without a password")
		}
		return nil, refuse(refusedFormats[".xls"], "the file is an old .xls (Excel 97-2003) workbook; save it as .xlsx")
	case ext == ".csv":
		return openCSV(path)
	case !isZip:
		return nil, refuse("Файл повреждён или не является книгой Excel (.xlsx) или LibreOffice (.ods). Сохраните список в Excel как «Книга Excel (.xlsx)».",
			"the file is not a zip-based workbook (no zip signature)")
	}
	if fe := checkZip(path, lim.MaxUnpacked); fe != nil {
		return nil, fe
	}
	if ext == ".ods" {
		return openODS(path, lim)
	}
	x, err := excelize.OpenFile(path, excelize.Options{UnzipSizeLimit: lim.MaxUnpacked, UnzipXMLSizeLimit: unzipXMLInMemory})
	if err != nil {
		return nil, refuse("Файл повреждён или не является книгой Excel (.xlsx). Откройте его в Excel, проверьте и сохраните как «Книга Excel (.xlsx)».",
			"not a readable xlsx workbook: %v", err)
	}
	return &xlsxBook{f: x}, nil
}

// unzipXMLInMemory is the largest sheet part excelize keeps in memory; a bigger one is
// unpacked to a temporary file and streamed from there (a 50,000-row sheet is 10-20 MB).
const unzipXMLInMemory = 2 << 20

// checkZip sums the unpacked sizes the zip's directory declares (the reader also stops
// at the declared size, so a lying directory cannot unpack more).
func checkZip(path string, limit int64) *fileError {
	z, err := zip.OpenReader(path)
	if err != nil {
		return refuse("Файл повреждён: архив книги не читается. Откройте файл в Excel или LibreOffice и сохраните заново.", "damaged zip: %v", err)
	}
	defer z.Close()
	var total uint64
	for _, f := range z.File {
		total += f.UncompressedSize64
	}
	if limit > 0 && total > uint64(limit) {
		return refuse(fmt.Sprintf("Файл слишком велик в распакованном виде (%d МБ, допустимо %d МБ): скорее всего, в листе миллионы пустых отформатированных строк. Удалите пустые строки под списком (или скопируйте только список в новую книгу) и положите файл снова.",
			total>>20, limit>>20), "the workbook unpacks to %d MiB, more than max_unpacked_mb = %d; probably a sheet full of formatted empty rows", total>>20, limit>>20)
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

// ruOSError says in Russian why a file could not be opened.
func ruOSError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "файл исчез из папки"
	case errors.Is(err, os.ErrPermission):
		return "нет прав на чтение файла у службы medsync"
	}
	return "файл занят другой программой или повреждён"
}

// xlsxBook reads .xlsx through excelize's streaming row reader.
type xlsxBook struct{ f *excelize.File }

func (b *xlsxBook) Sheets() []string { return b.f.GetSheetList() }
func (b *xlsxBook) Close() error     { return b.f.Close() }

func (b *xlsxBook) Rows(ctx context.Context, sheet string, fn func(int, []string) bool) error {
	rows, err := b.f.Rows(sheet)
	if err != nil {
		return err
	}
	defer rows.Close()
	raw := excelize.Options{RawCellValue: true}
	n := 0
	for rows.Next() {
		n++
		if n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		cells, err := rows.Columns(raw)
		if err != nil {
			return fmt.Errorf("row %d: %w", n, err)
		}
		if fn(n, cells) {
			return nil
		}
	}
	return rows.Error()
}
