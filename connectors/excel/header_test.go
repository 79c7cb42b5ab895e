package excel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medsync/mapping/demo"
)

// TestHeaderChecked: a header whose titles contradict the configured columns refuses
// the file naming both columns; titles are compared ignoring case, spaces and ё.
func TestHeaderChecked(t *testing.T) {
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	c, inbox, _ := newTestConnector(t, nil)
	swapped := []any{"Имя", "Фамилия", "Отчество", "Дата рождения"}
	writeBook(t, filepath.Join(inbox, "swapped.xlsx"), "Sheet1", [][]any{swapped, {"Михаил", "Орлов", "Петрович", "15.03.1985"}})
	tolerant := []any{" ФАМИЛИЯ ", "имя", "Отчёство", "Дата  рождения", "Пол", "Телефон (мобильный)"}
	writeBook(t, filepath.Join(inbox, "tolerant.xlsx"), "Sheet1", [][]any{tolerant, {"Орлов", "Михаил", "Петрович", "15.03.1985"}})
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	sum := readSheet(t, filepath.Join(inbox, "failed", "swapped_результат.xlsx"), sheetSummary)
	msg := sum[8][1]
	for _, want := range []string{"в столбце A — «Фамилия»", "столбец A называется «Имя»", "«Фамилия» в файле — столбец B", "org.zavod.col.lastname", "org.zavod.col.firstname"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if n := mustCount(t, db, `SELECT COUNT(*) FROM CLIENTS WHERE LASTNAME = 'Михаил'`); n != 0 {
		t.Error("a card with surname «Михаил» was created")
	}
	if _, err := os.Stat(filepath.Join(inbox, "done", "tolerant.xlsx")); err != nil {
		t.Errorf("a header differing only in case, spaces and ё was refused: %v", listDir(t, filepath.Join(inbox, "failed")))
	}
}

// TestLayoutByTitles: columns given by header titles are found wherever they are.
func TestLayoutByTitles(t *testing.T) {
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	c, inbox, logs := newTestConnector(t, map[string]string{
		"org.zavod.col.lastname": "Фамилия сотрудника", "org.zavod.col.firstname": "Имя", "org.zavod.col.middlename": "«Отчество»",
		"org.zavod.col.birthdate": "Дата рождения", "org.zavod.col.factors": "Пункты приказа 29н",
	})
	writeBook(t, filepath.Join(inbox, "a.xlsx"), "Sheet1", [][]any{
		{"№", "Пункты приказа 29н", "Дата рождения", "ОТЧЕСТВО", "Имя", "Фамилия сотрудника"},
		{1, "4.4", "15.03.1985", "Петрович", "Михаил", "Орлов"},
	})
	writeBook(t, filepath.Join(inbox, "b.xlsx"), "Sheet1", [][]any{{"Фамилия", "Имя", "Отчество", "Дата рождения"}, {"Орлов", "Иван", "Петрович", "15.03.1985"}})
	// Phone given by letter (A) while the title of factors is found in column A: refused.
	c.cfg.Orgs[0].Cols[fPhone] = 1
	writeBook(t, filepath.Join(inbox, "c.xlsx"), "Sheet1", [][]any{{"Пункты приказа 29н", "Дата рождения", "ОТЧЕСТВО", "Имя", "Фамилия сотрудника"}, {"4.4", "15.03.1985", "Петрович", "Олег", "Орлов"}})
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	var last, first, factors string
	if err := db.QueryRowContext(ctx, `SELECT C.LASTNAME, C.FIRSTNAME, P.FACTORS FROM CLIENTS C JOIN PROFLIST P ON P.PCODE = C.PCODE`).Scan(&last, &first, &factors); err != nil {
		t.Fatalf("%v; log:\n%s", err, logs)
	}
	if last != "Орлов" || first != "Михаил" || factors != "4.4" {
		t.Errorf("loaded %s %s %s", last, first, factors)
	}
	sum := readSheet(t, filepath.Join(inbox, "failed", "b_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "нет столбца «Фамилия сотрудника»") || !strings.Contains(sum[8][1], "«Фамилия», «Имя»") {
		t.Errorf("missing title: %q", sum[8][1])
	}
	sum = readSheet(t, filepath.Join(inbox, "failed", "c_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "столбец A листа «Sheet1» — и «Телефон», и «Вредные факторы»") {
		t.Errorf("a column both given by letter and found by title: %q", sum[8][1])
	}
}

// TestImportedPerOrganization: the same file is imported for each organization it is
// dropped for, and refused as already imported only for the same organization.
func TestImportedPerOrganization(t *testing.T) {
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	energo := filepath.Join(t.TempDir(), "energo")
	c, inbox, logs := newTestConnector(t, map[string]string{
		"organizations": "zavod,energo", "org.energo.inbox": energo, "org.energo.mis_id": "3", "org.energo.name": "АО «Татэнергосбыт»",
	})
	host := &testHost{log: c.log, mis: w}
	rows := [][]any{header, {"Иванов", "Иван", "Иванович", "15.03.1985"}}
	writeBook(t, filepath.Join(inbox, "list.xlsx"), "Sheet1", rows)
	if err := runWait(c, ctx, host); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(inbox, "done", "list.xlsx"))
	_ = os.MkdirAll(energo, 0o755)
	if err := os.WriteFile(filepath.Join(energo, "list.xlsx"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "again.xlsx"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runWait(c, ctx, host); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST WHERE ORG_ID = 3`); n != 1 {
		t.Errorf("organization 3 got %d rows; log:\n%s", n, logs)
	}
	sum := readSheet(t, filepath.Join(energo, "done", "list_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "Организация «АО «Татэнергосбыт»»") || !strings.Contains(sum[8][1], "Загружено: 1") {
		t.Errorf("energo: %q", sum[8][1])
	}
	sum = readSheet(t, filepath.Join(inbox, "done", "again_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "уже был загружен для организации «Казанский завод металлоконструкций»") {
		t.Errorf("zavod again: %q", sum[8][1])
	}
}
