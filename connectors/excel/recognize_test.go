package excel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"medsync/mapping/demo"
)

// TestRecognition: codes come from the MIS's справочник (write.staff_factors); an
// unknown code imports the person and lands on the sheet «Распознать вредные
// факторы»; the workbook dropped back with «Код из справочника» filled corrects the
// list in the MIS, and the correction is remembered for the organization only.
func TestRecognition(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db, w := misFor(t, dialect)
			c, inbox, logs := newTestConnector(t, map[string]string{
				"organizations": "zavod,energo", "org.energo.inbox": filepath.Join(t.TempDir(), "energo"), "org.energo.mis_id": "3", "org.energo.name": "АО «Татэнергосбыт»",
			})
			host := &testHost{log: c.log, mis: w}
			// 1.37.1 is in the demo MIS's справочник but not in the shipped list; 4.12 is in
			// the shipped list but not in the MIS's: the MIS decides.
			writeBook(t, filepath.Join(inbox, "list.xlsx"), "Лист1", [][]any{header,
				{"Иванов", "Иван", "Иванович", "15.03.1985", "", "", "", "", "", "", "4.2.5; 1.37.1; 9.9.9"},
				{"Петров", "Пётр", "Петрович", "16.03.1985", "", "", "", "", "", "", "9.9.9, 4.12"},
				{"Сидоров", "Олег", "Ильич", "17.03.1985", "", "", "", "", "", "", "4.4"},
			})
			if err := runWait(c, ctx, host); err != nil {
				t.Fatal(err)
			}
			res := filepath.Join(inbox, "done", "list_результат.xlsx")
			if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST WHERE ORG_ID = 1`); n != 3 {
				t.Fatalf("%d employees listed, want 3 (unknown codes do not refuse a person); log:\n%s", n, logs)
			}
			if dialect == demo.Firebird {
				// New cards and list rows are numbered by the MIS's generators, which
				// stand at the largest ids after the import: the MIS's own next card
				// cannot collide with one the import made.
				for _, g := range [][3]string{{"GEN_CLIENTS_ID", "PCODE", "CLIENTS"}, {"GEN_PROFLIST_ID", "PL_ID", "PROFLIST"}} {
					gen := mustCount(t, db, `SELECT GEN_ID(`+g[0]+`, 0) FROM RDB$DATABASE`)
					if top := mustCount(t, db, `SELECT MAX(`+g[1]+`) FROM `+g[2]); gen != top {
						t.Errorf("%s = %d after the import, MAX(%s) = %d", g[0], gen, g[1], top)
					}
				}
			}
			factorsOf := func(last string) string {
				var f string
				if err := db.QueryRowContext(ctx, `SELECT COALESCE(P.FACTORS, '') FROM PROFLIST P JOIN CLIENTS C ON C.PCODE = P.PCODE WHERE C.LASTNAME = '`+last+`'`).Scan(&f); err != nil {
					t.Fatal(err)
				}
				return f
			}
			if f := factorsOf("Иванов"); f != "4.2.5, 1.37.1" {
				t.Errorf("Иванов listed with %q, want the known codes 4.2.5, 1.37.1", f)
			}
			rec := readSheet(t, res, sheetRecognize)
			if len(rec) < 3 || rec[0][0] != recogTyped || rec[0][3] != recogCode || rec[1][0] != "9.9.9" || rec[1][1] != "2, 3" || rec[2][0] != "4.12" {
				t.Fatalf("recognition sheet: %q", rec)
			}
			// The registrar writes the right codes and drops the workbook back.
			f, err := excelize.OpenFile(res)
			if err != nil {
				t.Fatal(err)
			}
			_ = f.SetCellValue(sheetRecognize, "D2", "4.3.1")
			_ = f.SetCellValue(sheetRecognize, "D3", "-")
			back := filepath.Join(inbox, "исправлено.xlsx")
			if err := f.SaveAs(back); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := runWait(c, ctx, host); err != nil {
				t.Fatal(err)
			}
			sum := readSheet(t, filepath.Join(inbox, "done", "исправлено_результат.xlsx"), sheetSummary)
			if !strings.Contains(sum[8][1], "9.9.9 → 4.3.1") || !strings.Contains(sum[8][1], "у сотрудников: 2") {
				t.Errorf("recognition result: %q; log:\n%s", sum[8][1], logs)
			}
			if f := factorsOf("Иванов"); f != "4.2.5, 1.37.1, 4.3.1" {
				t.Errorf("Иванов now %q", f)
			}
			if f := factorsOf("Петров"); f != "4.3.1" {
				t.Errorf("Петров now %q (4.12 marked as not a factor)", f)
			}

			// Next list of the same organization: 9.9.9 is recognised by itself.
			writeBook(t, filepath.Join(inbox, "next.xlsx"), "Лист1", [][]any{header, {"Смирнов", "Илья", "Ильич", "18.03.1985", "", "", "", "", "", "", "9.9.9"}})
			// The same code for another organization still needs recognising.
			writeBook(t, filepath.Join(c.cfg.Orgs[0].Inbox, "other.xlsx"), "Лист1", [][]any{header, {"Кузнецов", "Илья", "Ильич", "19.03.1985", "", "", "", "", "", "", "9.9.9"}})
			if err := runWait(c, ctx, host); err != nil {
				t.Fatal(err)
			}
			if f := factorsOf("Смирнов"); f != "4.3.1" {
				t.Errorf("Смирнов listed with %q: the organization's correction was not remembered", f)
			}
			if f := factorsOf("Кузнецов"); f != "" {
				t.Errorf("Кузнецов (another organization) listed with %q", f)
			}
			if c.cfg.Orgs[0].Code != "energo" {
				t.Fatalf("orgs: %v", c.cfg.Orgs[0].Code)
			}
			if got := readSheet(t, filepath.Join(c.cfg.Orgs[0].Inbox, "done", "other_результат.xlsx"), sheetRecognize); len(got) < 2 || got[1][0] != "9.9.9" {
				t.Errorf("other organization's recognition sheet: %q", got)
			}

			// A correction naming a code that is not in the справочник changes nothing.
			f, _ = excelize.OpenFile(filepath.Join(c.cfg.Orgs[0].Inbox, "done", "other_результат.xlsx"))
			_ = f.SetCellValue(sheetRecognize, "D2", "77.7")
			_ = f.SaveAs(filepath.Join(c.cfg.Orgs[0].Inbox, "wrong.xlsx"))
			f.Close()
			if err := runWait(c, ctx, host); err != nil {
				t.Fatal(err)
			}
			sum = readSheet(t, filepath.Join(c.cfg.Orgs[0].Inbox, "failed", "wrong_результат.xlsx"), sheetSummary)
			if !strings.Contains(sum[8][1], "77.7") || !strings.Contains(sum[8][1], "ничего не изменено") {
				t.Errorf("wrong correction: %q", sum[8][1])
			}
		})
	}
}

// TestFactorFallback: without write.staff_factors (or when it returns nothing) the
// shipped list of приказ № 29н decides, sub-codes included.
func TestFactorFallback(t *testing.T) {
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	if _, err := db.ExecContext(ctx, `DELETE FROM VREDFACT`); err != nil {
		t.Fatal(err)
	}
	c, inbox, logs := newTestConnector(t, nil)
	writeBook(t, filepath.Join(inbox, "a.xlsx"), "Sheet1", [][]any{header, {"Иванов", "Иван", "Иванович", "15.03.1985", "", "", "", "", "", "", "1.2.1; 4.12; 1.37.1"}})
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	res := readSheet(t, filepath.Join(inbox, "done", "a_результат.xlsx"), sheetResult)
	if res[1][12] != statusLoaded || !strings.Contains(res[1][13], "1.37.1 не найден") || strings.Contains(res[1][13], "1.2.1") {
		t.Errorf("result %q; log:\n%s", res[1], logs)
	}
	if _, err := os.Stat(filepath.Join(inbox, "done", "a.xlsx")); err != nil {
		t.Error(err)
	}
}

// TestRecognitionSavedByLibreOffice: the registrar fills «Код из справочника» and saves
// the result workbook in LibreOffice; the copy LibreOffice wrote is applied.
func TestRecognitionSavedByLibreOffice(t *testing.T) {
	soffice(t)
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	c, inbox, logs := newTestConnector(t, nil)
	host := &testHost{log: c.log, mis: w}
	writeBook(t, filepath.Join(inbox, "list.xlsx"), "Лист1", [][]any{header, {"Иванов", "Иван", "Иванович", "15.03.1985", "", "", "", "", "", "", "шум, 4.2.5"}})
	if err := runWait(c, ctx, host); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(filepath.Join(inbox, "done", "list_результат.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	_ = f.SetCellValue(sheetRecognize, "D2", "4.4")
	filled := filepath.Join(t.TempDir(), "заполнено.xlsx")
	if err := f.SaveAs(filled); err != nil {
		t.Fatal(err)
	}
	f.Close()
	saved := libreOffice(t, "xlsx", t.TempDir(), filled)[0]
	if err := copyFile(saved, filepath.Join(inbox, "заполнено.xlsx")); err != nil {
		t.Fatal(err)
	}
	if err := runWait(c, ctx, host); err != nil {
		t.Fatal(err)
	}
	var factors string
	if err := db.QueryRowContext(ctx, `SELECT FACTORS FROM PROFLIST`).Scan(&factors); err != nil {
		t.Fatal(err)
	}
	if factors != "4.2.5, 4.4" {
		t.Errorf("factors %q after the LibreOffice-saved recognition; done %v failed %v; log:\n%s", factors,
			listDir(t, filepath.Join(inbox, "done")), listDir(t, filepath.Join(inbox, "failed")), logs)
	}
}
