package excel

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"medsync/mapping/convert"
)

// odsBook reads an OpenDocument spreadsheet (.ods, LibreOffice's own format):
// content.xml is streamed, repeated rows and cells are expanded only up to the last
// non-empty one.
type odsBook struct {
	z      *zip.ReadCloser
	lim    readLimits
	sheets []string
}

const (
	nsTable  = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
	nsOffice = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
	nsText   = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
	// maxODSCols is the widest row read; cells further right are ignored.
	maxODSCols = 1024
)

func openODS(path string, lim readLimits) (book, *fileError) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, refuse("Файл повреждён: архив книги не читается. Откройте файл в LibreOffice и сохраните заново.", "damaged zip: %v", err)
	}
	b := &odsBook{z: z, lim: lim}
	if _, err := b.content(); err != nil {
		z.Close()
		return nil, refuse("Файл не является таблицей LibreOffice (.ods): в нём нет содержимого таблицы. Сохраните список как «Электронная таблица ODF (.ods)» или «Книга Excel (.xlsx)».", "ods: %v", err)
	}
	return b, nil
}

func (b *odsBook) Close() error { return b.z.Close() }

func (b *odsBook) content() (io.ReadCloser, error) {
	for _, f := range b.z.File {
		if f.Name == "content.xml" {
			return f.Open()
		}
	}
	return nil, errors.New("no content.xml")
}

// Sheets lists the tables; it reads content.xml once, skipping the tables' contents.
func (b *odsBook) Sheets() []string {
	if b.sheets != nil {
		return b.sheets
	}
	b.sheets = []string{}
	rc, err := b.content()
	if err != nil {
		return b.sheets
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	for {
		tok, err := d.Token()
		if err != nil {
			return b.sheets
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space == nsTable && se.Name.Local == "table" {
			b.sheets = append(b.sheets, attr(se, nsTable, "name"))
			if d.Skip() != nil {
				return b.sheets
			}
		}
	}
}

func attr(se xml.StartElement, space, local string) string {
	for _, a := range se.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func repeat(se xml.StartElement, local string) int {
	n, err := strconv.Atoi(attr(se, nsTable, local))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Rows streams the rows of one table.
func (b *odsBook) Rows(ctx context.Context, sheet string, fn func(int, []string) bool) error {
	rc, err := b.content()
	if err != nil {
		return err
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return fmt.Errorf("sheet %q not found", sheet)
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space == nsTable && se.Name.Local == "table" {
			if attr(se, nsTable, "name") != sheet {
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			return b.table(ctx, d, fn)
		}
	}
}

// table reads the rows of the current table element.
func (b *odsBook) table(ctx context.Context, d *xml.Decoder, fn func(int, []string) bool) error {
	n := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Space == nsTable && t.Name.Local == "table" {
				return nil
			}
		case xml.StartElement:
			if t.Name.Space != nsTable || t.Name.Local != "table-row" {
				continue // table-header-rows, table-row-group: their rows come as tokens too
			}
			cells, err := odsRow(d)
			if err != nil {
				return fmt.Errorf("row %d: %w", n+1, err)
			}
			reps := repeat(t, "number-rows-repeated")
			if len(cells) == 0 && reps > b.lim.MaxEmpty {
				reps = b.lim.MaxEmpty + 1 // the reader ends the sheet there
			}
			for i := 0; i < reps; i++ {
				n++
				if n%1000 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				if n > maxSheetRows || fn(n, cells) {
					return nil
				}
			}
		}
	}
}

// maxSheetRows is the last row number a sheet may have (as in Excel).
const maxSheetRows = 1048576

// odsRow reads the cells of the current table-row element, trailing empty cells left out.
func odsRow(d *xml.Decoder) ([]string, error) {
	var cells []string
	pending := 0 // empty cells not yet added
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Space == nsTable && t.Name.Local == "table-row" {
				return cells, nil
			}
		case xml.StartElement:
			if t.Name.Space != nsTable || (t.Name.Local != "table-cell" && t.Name.Local != "covered-table-cell") {
				continue
			}
			v, err := odsCell(d, t)
			if err != nil {
				return nil, err
			}
			reps := repeat(t, "number-columns-repeated")
			if v == "" {
				pending += reps
				continue
			}
			for i := 0; i < pending+reps && len(cells) < maxODSCols; i++ {
				if i < pending {
					cells = append(cells, "")
				} else {
					cells = append(cells, v)
				}
			}
			pending = 0
		}
	}
}

// odsCell returns a cell's raw value: numbers as written, dates as serial day numbers
// (like Excel's raw values), text as its paragraphs joined by line breaks.
func odsCell(d *xml.Decoder, se xml.StartElement) (string, error) {
	var text strings.Builder
	paras := 0
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Space == nsText {
				switch t.Name.Local {
				case "p":
					if paras > 0 {
						text.WriteByte('\n')
					}
					paras++
				case "s":
					n, err := strconv.Atoi(attr(t, nsText, "c"))
					if err != nil || n < 1 {
						n = 1
					}
					text.WriteString(strings.Repeat(" ", min(n, 100)))
				case "tab":
					text.WriteByte('\t')
				case "line-break":
					text.WriteByte('\n')
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if text.Len() < 1<<16 {
				text.Write(t)
			}
		}
	}
	switch attr(se, nsOffice, "value-type") {
	case "float", "percentage", "currency":
		if v := attr(se, nsOffice, "value"); v != "" {
			return v, nil
		}
	case "date":
		if v := attr(se, nsOffice, "date-value"); v != "" {
			return odsDate(v), nil
		}
	case "boolean":
		if v := attr(se, nsOffice, "boolean-value"); v != "" {
			return v, nil
		}
	}
	return text.String(), nil
}

// odsDate turns 1985-03-15 or 1985-03-15T10:30:00 into an OLE serial ("31121"), the
// form a date cell of an .xlsx has when read raw.
func odsDate(v string) string {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return strconv.Itoa(int(convert.ToOLE(convert.FromTime(t))))
		}
	}
	return v
}
