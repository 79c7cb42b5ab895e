package excel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"medsync/mapping/demo"
)

// csvFormat is LibreOffice's CSV export as Russian Excel users get it: separator ',',
// text in quotes, code page Windows-1251 (34).
const csvFormat = "csv:Text - txt - csv (StarCalc):44,34,34"

// TestLibreOfficeWorkbooks imports the same staff list saved by LibreOffice itself as
// .xlsx, .ods and .csv (Windows-1251, ','), and checks the .xls copy goes to failed/
// with a result saying to save it as .xlsx.
func TestLibreOfficeWorkbooks(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("testdata", "staff.fods"))
	if err != nil {
		t.Fatal(err)
	}
	books := libreOfficeAll(t, src, t.TempDir(), "xlsx", "ods", "xls", csvFormat)
	for _, format := range []string{"xlsx", "ods", csvFormat} {
		t.Run(strings.SplitN(format, ":", 2)[0], func(t *testing.T) {
			if format == csvFormat {
				data, _ := os.ReadFile(books[format])
				if !strings.Contains(string(data), "\xc8\xe2\xe0\xed\xee\xe2") { // «Иванов» in Windows-1251
					t.Fatalf("LibreOffice's CSV is not Windows-1251: %q", data)
				}
			}
			checkStaffImport(t, books[format])
		})
	}
	t.Run("xls", func(t *testing.T) {
		_, w := misFor(t, demo.SQLite)
		c, inbox, _ := newTestConnector(t, nil)
		if err := copyFile(books["xls"], filepath.Join(inbox, "staff.xls")); err != nil {
			t.Fatal(err)
		}
		if err := runWait(c, context.Background(), &testHost{log: c.log, mis: w}); err != nil {
			t.Fatal(err)
		}
		sum := readSheet(t, filepath.Join(inbox, "failed", "staff_результат.xlsx"), sheetSummary)
		if !strings.Contains(sum[8][1], "Excel 97–2003 (.xls)") || !strings.Contains(sum[8][1], "сохраните как «Книга Excel (.xlsx)»") {
			t.Errorf("xls: %q", sum[8][1])
		}
	})
}

// checkStaffImport imports testdata/staff.fods as converted into path and checks what
// the MIS and the result workbook hold.
func checkStaffImport(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	c, inbox, logs := newTestConnector(t, nil)
	name := "staff" + filepath.Ext(path)
	if err := copyFile(path, filepath.Join(inbox, name)); err != nil {
		t.Fatal(err)
	}
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(inbox, "done", "staff_результат.xlsx")
	if _, err := os.Stat(res); err != nil {
		t.Fatalf("no result in done/: %v; failed/ %v; log:\n%s", err, listDir(t, filepath.Join(inbox, "failed")), logs)
	}
	type card struct {
		bdate   float64
		gender  int
		phone   string
		factors string
	}
	got := map[string]card{}
	rows, err := db.QueryContext(ctx, `SELECT C.LASTNAME, C.BDATE, COALESCE(C.GENDER, 0), COALESCE(C.PHONE1, ''), COALESCE(P.FACTORS, '') FROM CLIENTS C JOIN PROFLIST P ON P.PCODE = C.PCODE`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var last string
		var k card
		if err := rows.Scan(&last, &k.bdate, &k.gender, &k.phone, &k.factors); err != nil {
			t.Fatal(err)
		}
		got[last] = k
	}
	want := map[string]card{
		"Иванов":  {31121, 1, "+79221234567", "4.2.5, 1.2.1"},
		"Петрова": {32905, 2, "+79221112233", "4.4"},
		"Сидоров": {29292, 0, "", "18.2"},
	}
	if len(got) != len(want) {
		t.Errorf("listed %v; log:\n%s", got, logs)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %+v, want %+v", k, got[k], v)
		}
	}
	sheet := readSheet(t, res, sheetResult)
	if len(sheet) != 5 || sheet[4][12] != statusDuplicate || !strings.Contains(sheet[4][13], "строке 2") {
		t.Errorf("result rows: %q", sheet)
	}
	if !strings.Contains(sheet[3][13], "Отчество: не заполнено") {
		t.Errorf("no warning for the missing patronymic: %q", sheet[3])
	}
	if rec := readSheet(t, res, sheetRecognize); len(rec) < 2 || rec[1][0] != "9.9.9" {
		t.Errorf("recognition sheet: %q", rec)
	}
}

// TestCSV: code page and separator are detected.
func TestCSV(t *testing.T) {
	ctx := context.Background()
	head := "Фамилия;Имя;Отчество;Дата рождения\r\n"
	utf := "\ufeff" + head + "Иванов;Иван;Иванович;15.03.1985\r\n\"Петрова\";\"Анна-Мария\";Сергеевна;01.02.1990\r\n"
	cp, err := charmap.Windows1251.NewEncoder().String(strings.ReplaceAll(head+"Сидоров;Олег;Ильич;12 марта 1980 г.\r\n", ";", ","))
	if err != nil {
		t.Fatal(err)
	}
	db, w := misFor(t, demo.SQLite)
	c, inbox, logs := newTestConnector(t, nil)
	if err := os.WriteFile(filepath.Join(inbox, "a.csv"), []byte(utf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "b.csv"), []byte(cp), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Иванов Иван", "Петрова Анна-Мария", "Сидоров Олег"} {
		parts := strings.SplitN(name, " ", 2)
		if n := mustCount(t, db, `SELECT COUNT(*) FROM CLIENTS WHERE LASTNAME = ? AND FIRSTNAME = ?`, parts[0], parts[1]); n != 1 {
			t.Errorf("%s: %d cards; done %v failed %v; log:\n%s", name, n, listDir(t, filepath.Join(inbox, "done")), listDir(t, filepath.Join(inbox, "failed")), logs)
		}
	}
	sum := readSheet(t, filepath.Join(inbox, "done", "b_результат.xlsx"), sheetSummary)
	if sum[2][1] != "b" {
		t.Errorf("«Лист» of a csv: %q", sum[2][1])
	}
}
