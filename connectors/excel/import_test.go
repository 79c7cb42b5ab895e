package excel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/mapping"
	"medsync/mapping/demo"
)

// TestImportDemoMIS imports staff lists into the demo MIS on every dialect and checks
// cards, the check-up list, statuses, the result workbook and re-import guards.
func TestImportDemoMIS(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, w := misFor(t, dialect)
			// An existing card written with ё and in another case: matched, not duplicated.
			if _, err := db.ExecContext(ctx, `INSERT INTO CLIENTS (PCODE, CARDNUM, LASTNAME, FIRSTNAME, MIDNAME, BDATE, GENDER, DELETED, LINK_REQUEST, MODIFYDATE)
				VALUES (500, '500', 'Сёмин', 'Пётр', 'Алексеевич', 31121, 1, 0, 0, 45000)`); err != nil {
				t.Fatal(err)
			}
			c, inbox, logs := newTestConnector(t, nil)
			host := &testHost{log: c.log, dir: t.TempDir(), mis: w}
			rows := [][]any{
				{"Список сотрудников на периодический медосмотр"}, // title row, merged across the header
				header,
				{"Семин", "ПЕТР", "Алексеевич", date(1985, 3, 15), nil, "8 (922) 111-22-33", "Слесарь", "Цех №1", 1, 32, "4.2.5; 1.37.1"},
				{"Иванова", "Мария", "Петровна", "01.02.1990", nil, 79221234567, "Бухгалтер", "Бухгалтерия", 0, nil, nil},
				{"Ильин", "Олег", "Ренатович", "10.10.80", "м", "нет", "Водитель", "Гараж", nil, 4, "4.3.2, 9.9.9"},
				{nil, "Анна", nil, "31.02.1990"},
				{"Иванова", "Мария", "Петровна", "01.02.1990"}, // twice in the file
				{}, {}, // trailing empty rows
			}
			path := filepath.Join(inbox, "zavod_2025.xlsx")
			writeBook(t, path, "Лист1", rows)
			f, _ := excelize.OpenFile(path)
			_ = f.MergeCell("Лист1", "A1", "K1")
			_ = f.Save()
			f.Close()
			c.cfg.Orgs[0].FirstRow = 3

			if err := runWait(c, ctx, host); err != nil {
				t.Fatalf("Run: %v", err)
			}
			done := filepath.Join(inbox, "done")
			if got := listDir(t, done); strings.Join(got, ",") != "zavod_2025.xlsx,zavod_2025_результат.xlsx" {
				t.Fatalf("done/ holds %v; log:\n%s", got, logs)
			}
			if n := mustCount(t, db, `SELECT COUNT(*) FROM CLIENTS`); n != 3 {
				t.Errorf("CLIENTS has %d cards, want 3 (Сёмин matched, Иванова and Ильин created)", n)
			}
			if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST WHERE ORG_ID = 1`); n != 3 {
				t.Errorf("PROFLIST has %d rows, want 3", n)
			}
			var gender, exam, cond int
			var factors, phone string
			if err := db.QueryRowContext(ctx, `SELECT C.GENDER, COALESCE(C.PHONE1, ''), P.EXAM_TYPE, P.WORK_COND, P.FACTORS FROM PROFLIST P JOIN CLIENTS C ON C.PCODE = P.PCODE WHERE C.PCODE = 500`).
				Scan(&gender, &phone, &exam, &cond, &factors); err != nil {
				t.Fatal(err)
			}
			if exam != 1 || cond != 32 || factors != "4.2.5, 1.37.1" {
				t.Errorf("Сёмин listed with exam %d, conditions %d, factors %q", exam, cond, factors)
			}
			var bdate float64
			if err := db.QueryRowContext(ctx, `SELECT GENDER, PHONE1, BDATE FROM CLIENTS WHERE LASTNAME = 'Иванова'`).Scan(&gender, &phone, &bdate); err != nil {
				t.Fatal(err)
			}
			if gender != 2 || phone != "+79221234567" || bdate != 32905 {
				t.Errorf("new card: gender %d (want 2 from the patronymic), phone %q, BDATE %v (want 32905 = 1990-02-01)", gender, phone, bdate)
			}

			res := readSheet(t, filepath.Join(done, "zavod_2025_результат.xlsx"), sheetResult)
			if len(res) != 6 {
				t.Fatalf("result has %d rows, want header + 5: %v", len(res), res)
			}
			want := []struct{ row, status, reason string }{
				{"3", statusLoaded, "найдена карта № 500"},
				{"4", statusLoaded, "создана новая карта"},
				{"5", statusLoaded, "код 9.9.9 не найден в справочнике — сотрудник загружен без него"},
				{"6", statusRefused, "Фамилия: не заполнено"},
				{"7", statusDuplicate, "тот же сотрудник, что в строке 4"},
			}
			for i, w := range want {
				r := res[i+1]
				if r[0] != w.row || r[12] != w.status || !strings.Contains(r[13], w.reason) {
					t.Errorf("result row %d = %v; want row %s %s with %q", i+2, r, w.row, w.status, w.reason)
				}
			}
			if !strings.Contains(res[5-2][13], "такой даты нет") && !strings.Contains(res[4][13], "такой даты нет") {
				t.Errorf("31.02.1990 not reported: %v", res[4])
			}
			rf, _ := excelize.OpenFile(filepath.Join(done, "zavod_2025_результат.xlsx"))
			panes, _ := rf.GetPanes(sheetResult)
			style, _ := rf.GetCellStyle(sheetResult, "B5") // surname cell of row 6 (refused)
			fill, _ := rf.GetStyle(style)
			wstyle, _ := rf.GetCellStyle(sheetResult, "L4") // factors cell of row 5 (a code to recognise)
			wfill, _ := rf.GetStyle(wstyle)
			rf.Close()
			if wfill == nil || len(wfill.Fill.Color) == 0 || wfill.Fill.Color[0] != "FFEB9C" {
				t.Errorf("cell with an unknown code not marked as a warning: %+v", wfill)
			}
			if !panes.Freeze || panes.YSplit != 1 {
				t.Errorf("header not frozen: %+v", panes)
			}
			if fill == nil || len(fill.Fill.Color) == 0 || fill.Fill.Color[0] != "FFC7CE" {
				t.Errorf("refused cell not highlighted: %+v", fill)
			}

			// The same content dropped again under another name: not imported twice.
			writeBook(t, filepath.Join(inbox, "copy.xlsx"), "Лист1", nil)
			data, _ := os.ReadFile(filepath.Join(done, "zavod_2025.xlsx"))
			if err := os.WriteFile(filepath.Join(inbox, "copy.xlsx"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := runWait(c, ctx, host); err != nil {
				t.Fatal(err)
			}
			if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST`); n != 3 {
				t.Errorf("PROFLIST has %d rows after a re-drop", n)
			}
			sum := readSheet(t, filepath.Join(done, "copy_результат.xlsx"), sheetSummary)
			if !strings.Contains(sum[8][1], "уже был загружен") {
				t.Errorf("re-drop summary: %v", sum)
			}

			// A modified list with the same people: everyone is already listed.
			writeBook(t, filepath.Join(inbox, "again.xlsx"), "Лист1", [][]any{header, {"Семин", "Пётр", "Алексеевич", "15.03.1985", "", "", "Мастер"}})
			c.cfg.Orgs[0].FirstRow = 2
			if err := runWait(c, ctx, host); err != nil {
				t.Fatal(err)
			}
			res = readSheet(t, filepath.Join(done, "again_результат.xlsx"), sheetResult)
			if res[1][12] != statusListed {
				t.Errorf("again: %v", res[1])
			}
		})
	}
}

func TestImportRefusals(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db, w := misFor(t, dialect)
			good := []any{"Иванов", "Иван", "Иванович", "15.03.1985"}
			bad := []any{"Петров", "Пётр", "Петрович", "15.03.1985", nil, nil, nil, nil, nil, "5"}

			t.Run("strict refuses the whole file", func(t *testing.T) {
				c, inbox, _ := newTestConnector(t, map[string]string{"strict": "true"})
				writeBook(t, filepath.Join(inbox, "s.xlsx"), "Sheet1", [][]any{header, good, bad})
				if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
					t.Fatal(err)
				}
				res := readSheet(t, filepath.Join(inbox, "failed", "s_результат.xlsx"), sheetResult)
				if res[1][12] != statusRefused || !strings.Contains(res[1][13], "строгий режим") || res[2][12] != statusRefused {
					t.Errorf("strict result: %v", res)
				}
				if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST`); n != 0 {
					t.Errorf("strict wrote %d rows", n)
				}
			})
			t.Run("expired contract", func(t *testing.T) {
				c, inbox, logs := newTestConnector(t, map[string]string{"org.zavod.mis_id": "2"})
				writeBook(t, filepath.Join(inbox, "school.xlsx"), "Sheet1", [][]any{header, good})
				if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
					t.Fatal(err)
				}
				sum := readSheet(t, filepath.Join(inbox, "failed", "school_результат.xlsx"), sheetSummary)
				if !strings.Contains(sum[8][1], "Срок действия договора между организацией и клиникой истёк 31.12.2024") ||
					!strings.Contains(sum[8][1], "Организация «Казанский завод металлоконструкций»") ||
					!strings.Contains(sum[8][1], "справочник «Организации»") {
					t.Errorf("summary: %v", sum)
				}
				if !strings.Contains(logs.String(), "contract") {
					t.Errorf("log: %s", logs)
				}
				if n := mustCount(t, db, `SELECT COUNT(*) FROM CLIENTS`); n != 0 {
					t.Errorf("expired contract still wrote %d cards", n)
				}
			})
			t.Run("unknown organization", func(t *testing.T) {
				c, inbox, _ := newTestConnector(t, map[string]string{"org.zavod.mis_id": "99"})
				writeBook(t, filepath.Join(inbox, "x.xlsx"), "Sheet1", [][]any{header, good})
				if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
					t.Fatal(err)
				}
				sum := readSheet(t, filepath.Join(inbox, "failed", "x_результат.xlsx"), sheetSummary)
				if !strings.Contains(sum[8][1], "не найдена в МИС") {
					t.Errorf("summary: %v", sum)
				}
			})
		})
	}
}

// TestBadFiles checks every kind of unreadable input gets a result and the poll goes on.
func TestBadFiles(t *testing.T) {
	ctx := context.Background()
	_, w := misFor(t, demo.SQLite)
	c, inbox, logs := newTestConnector(t, map[string]string{"max_rows": "100"})
	put := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(inbox, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("a_empty.xlsx", nil)
	put("b_text.xlsx", []byte("Фамилия;Имя\nИванов;Иван\n"))
	put("c_old.xlsx", append(append([]byte{}, oleHeader...), make([]byte, 600)...))
	// Password-protected.
	f := excelize.NewFile()
	_ = f.SetCellValue("Sheet1", "A2", "Иванов")
	if err := f.SaveAs(filepath.Join(inbox, "d_password.xlsx"), excelize.Options{Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeBook(t, filepath.Join(inbox, "e_nosheet.xlsx"), "Данные", [][]any{header, {"Иванов", "Иван", "", "15.03.1985"}})
	writeBook(t, filepath.Join(inbox, "f_blank.xlsx"), "Sheet1", [][]any{header})
	big := [][]any{header}
	for i := 0; i < 150; i++ {
		big = append(big, []any{"Иванов", "Иван", "", "15.03.1985"})
	}
	writeBook(t, filepath.Join(inbox, "g_big.xlsx"), "Sheet1", big)
	writeBook(t, filepath.Join(inbox, "h_narrow.xlsx"), "Sheet1", [][]any{{"Фамилия", "Имя"}, {"Иванов", "Иван"}})
	writeBook(t, filepath.Join(inbox, "z_good.xlsx"), "Sheet1", [][]any{header, {"Иванов", "Иван", "", "15.03.1985"}})
	put("notes.txt", []byte("not a staff list"))
	put("~$z_good.xlsx", []byte("excel owner file"))

	c.cfg.Orgs[0].Sheet = ""
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	// e_nosheet has sheet "Данные" and no sheet is configured: it is read. Run again with a
	// configured sheet to get the missing-sheet refusal.
	wantMsg := map[string]string{
		"a_empty":    "пустой",
		"b_text":     "не является книгой Excel",
		"c_old":      "Excel 97–2003",
		"d_password": "защищён паролем",
		"f_blank":    "нет строк с данными",
		"g_big":      "больше 100 строк",
		"h_narrow":   "за пределами таблицы",
		"notes":      "не список сотрудников в поддерживаемом формате",
	}
	for name, msg := range wantMsg {
		sum := readSheet(t, filepath.Join(inbox, "failed", name+"_результат.xlsx"), sheetSummary)
		if !strings.Contains(sum[8][1], msg) {
			t.Errorf("%s: summary %q, want %q", name, sum[8][1], msg)
		}
		if !strings.Contains(sum[8][1], "Организация «Казанский завод металлоконструкций»") {
			t.Errorf("%s: the message does not name the organization: %q", name, sum[8][1])
		}
		if sum[2][1] == "" {
			t.Errorf("%s: «Лист» is empty", name)
		}
		if w := englishWord(sum[8][1]); w != "" {
			t.Errorf("%s: English %q in the Russian message %q", name, w, sum[8][1])
		}
		if !strings.Contains(logs.String(), name+".") {
			t.Errorf("%s: no log line names the file", name)
		}
	}
	if got := listDir(t, filepath.Join(inbox, "done")); len(got) != 4 {
		t.Errorf("done/ = %v, want e_nosheet and z_good with results", got)
	}
	if got := listDir(t, inbox); strings.Join(got, ",") != "done,failed,~$z_good.xlsx" {
		t.Errorf("inbox left with %v", got)
	}

	c.cfg.Orgs[0].Sheet = "Сотрудники"
	writeBook(t, filepath.Join(inbox, "i_sheet.xlsx"), "Данные", [][]any{header, {"Петров", "Иван", "", "15.03.1985"}})
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	sum := readSheet(t, filepath.Join(inbox, "failed", "i_sheet_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "нет листа «Сотрудники»") || !strings.Contains(sum[8][1], "Данные") {
		t.Errorf("missing sheet: %q", sum[8][1])
	}
}

// TestInboxUntouchedWithoutStatements: with a profile that declares no write
// statements (views) files stay where they are, and it is logged once.
func TestInboxUntouchedWithoutStatements(t *testing.T) {
	p, err := mapping.LoadProfile("views")
	if err != nil {
		t.Fatal(err)
	}
	db, _, _ := demo.TestDB(t, demo.SQLite)
	w := mapping.NewWriter(db, demo.SQLite, p)
	c, inbox, logs := newTestConnector(t, nil)
	writeBook(t, filepath.Join(inbox, "a.xlsx"), "Sheet1", [][]any{header, {"Иванов", "Иван", "", "15.03.1985"}})
	for i := 0; i < 3; i++ {
		if err := runWait(c, context.Background(), &testHost{log: c.log, mis: w}); err != nil {
			t.Fatal(err)
		}
	}
	if got := listDir(t, inbox); strings.Join(got, ",") != "a.xlsx" {
		t.Errorf("inbox = %v", got)
	}
	if n := strings.Count(logs.String(), "imports are unsupported"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, logs)
	}
}

// TestSettle: a file whose size or time still changes is left for the next round.
func TestSettle(t *testing.T) {
	_, w := misFor(t, demo.SQLite)
	c, inbox, _ := newTestConnector(t, map[string]string{"settle": "1m"})
	now := time.Now()
	c.now = func() time.Time { return now }
	path := filepath.Join(inbox, "a.xlsx")
	writeBook(t, path, "Sheet1", [][]any{header, {"Иванов", "Иван", "", "15.03.1985"}})
	host := &testHost{log: c.log, mis: w}
	if err := runWait(c, context.Background(), host); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("a fresh file was taken in its first round")
	}
	// Still being written: it grows between rounds.
	writeBook(t, path, "Sheet1", [][]any{header, {"Иванов", "Иван", "", "15.03.1985"}, {"Петров", "Пётр", "", "15.03.1985"}})
	if err := runWait(c, context.Background(), host); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("a growing file was taken")
	}
	// Unchanged since the previous round: taken.
	if err := runWait(c, context.Background(), host); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a settled file was not taken")
	}
}
