package excel

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// csvBook is a .csv file as one sheet named after the file. The code page is detected
// (UTF-8, with or without a BOM, else Windows-1251 — what Russian Excel writes for
// «CSV (разделители — запятые)»), and so is the separator (';' as Russian Excel writes,
// ',' or a tab).
type csvBook struct {
	name    string
	data    []byte
	sep     rune
	charset string
}

// maxCSVBytes is the largest .csv read.
const maxCSVBytes = 64 << 20

func openCSV(path string) (book, *fileError) {
	f, err := os.Open(path)
	if err != nil {
		return nil, refuse("Файл не удалось открыть: "+ruOSError(err), "open: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCSVBytes+1))
	if err != nil {
		return nil, refuse("Файл не удалось прочитать: "+ruOSError(err), "read: %v", err)
	}
	if len(data) > maxCSVBytes {
		return nil, refuse(fmt.Sprintf("Файл .csv больше %d МБ. Разделите список на несколько файлов.", maxCSVBytes>>20), "csv larger than %d MiB", maxCSVBytes>>20)
	}
	b := &csvBook{name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), charset: "UTF-8"}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		dec, err := charmap.Windows1251.NewDecoder().Bytes(data)
		if err != nil {
			return nil, refuse("Кодировка файла .csv не распознана (ожидается UTF-8 или Windows-1251).", "csv: %v", err)
		}
		data, b.charset = dec, "Windows-1251"
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, refuse("Файл назван .csv, но это не текстовая таблица. Сохраните список как «CSV (разделители — точка с запятой)» или «Книга Excel (.xlsx)».", "csv file holds NUL bytes: not text")
	}
	b.data = data
	b.sep = detectSeparator(data)
	return b, nil
}

// detectSeparator picks ';', ',' or a tab by how often each occurs outside quotes in
// the first lines.
func detectSeparator(data []byte) rune {
	counts := map[byte]int{}
	inQuote, lines := false, 0
	for _, c := range data {
		switch {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '\n':
			lines++
		case c == ';' || c == ',' || c == '\t':
			counts[c]++
		}
		if lines >= 20 {
			break
		}
	}
	best := byte(';')
	for _, c := range []byte{',', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return rune(best)
}

func (b *csvBook) Sheets() []string { return []string{b.name} }
func (b *csvBook) Close() error     { return nil }

func (b *csvBook) Rows(ctx context.Context, sheet string, fn func(int, []string) bool) error {
	if sheet != b.name {
		return fmt.Errorf("sheet %q not found", sheet)
	}
	r := csv.NewReader(bytes.NewReader(b.data))
	r.Comma = b.sep
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		n++
		if n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if n > maxSheetRows || fn(n, rec) {
			return nil
		}
	}
}
