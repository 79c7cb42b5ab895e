package excel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

// callListFixture exports a call list whose appointments name a patient the connector
// received, one only the engine's records hold, and one nobody knows.
func callListFixture(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	out := t.TempDir()
	c, _, logs := newTestConnector(t, map[string]string{"export.dir": out, "export.call_list.schedule": "0 18 * * *"})
	msk, _ := time.LoadLocation("Europe/Moscow")
	today := time.Now().In(msk)
	tomorrow := time.Date(today.Year(), today.Month(), today.Day()+1, 0, 0, 0, 0, msk)
	at := func(h int) time.Time { return tomorrow.Add(time.Duration(h) * time.Hour) }
	batch := []connectors.Event{
		event(t, connectors.OpUpsert, &mapping.Branch{ID: "1", Name: "Клиника на Ленина"}),
		event(t, connectors.OpUpsert, &mapping.Specialty{ID: "1", Name: "Терапевт"}),
		event(t, connectors.OpUpsert, &mapping.Doctor{ID: "10", BranchID: "1", SpecialtyID: "1", LastName: "Хабибуллина", FirstName: "Гульнара", MiddleName: "Рашитовна"}),
		event(t, connectors.OpUpsert, &mapping.Patient{ID: "100", CardNumber: "А-100", LastName: "Иванов", FirstName: "Иван", MiddleName: "Иванович", Phone: "+79221234567"}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a1", PatientID: "100", DoctorID: "10", BranchID: "1", Start: at(9), End: at(10), Status: mapping.StatusBooked, Comment: "Повторный приём после анализов, взять результаты"}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a2", PatientID: "102", DoctorID: "10", BranchID: "1", Start: at(10), End: at(11), Status: mapping.StatusBooked}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a3", PatientID: "103", DoctorID: "10", BranchID: "1", Start: at(11), End: at(12), Status: mapping.StatusBooked}),
	}
	for i, err := range c.Deliver(ctx, batch) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	host := &testHost{log: c.log, records: map[string]map[string]any{mapping.EntityPatient: {
		"102": &mapping.Patient{ID: "102", CardNumber: "Б-102", LastName: "Петрова", FirstName: "Анна", Phone: "+79227654321"},
	}}}
	c.now = func() time.Time { return tomorrow.Add(-7 * time.Hour) }
	if err := runWait(c, ctx, host); err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return tomorrow.Add(-5 * time.Hour) }
	if err := runWait(c, ctx, host); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, callListPrefix+tomorrow.Format(time.DateOnly)+".xlsx")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no call list: %v; log:\n%s", err, logs)
	}
	return path
}

// TestCallListNamesEveryPatient: every row names the patient and a phone (or says
// there is none), with the card number.
func TestCallListNamesEveryPatient(t *testing.T) {
	rows := readSheet(t, callListFixture(t), "Клиника на Ленина")
	if len(rows) != 4 {
		t.Fatalf("rows %q", rows)
	}
	want := [][3]string{
		{"Иванов Иван Иванович", "А-100", "+79221234567"},
		{"Петрова Анна", "Б-102", "+79227654321"},
		{"пациент с кодом 103 (нет в данных medsync — найдите карту в МИС)", "103", "нет телефона"},
	}
	for i, w := range want {
		r := rows[i+1]
		if r[2] != w[0] || r[3] != w[1] || r[4] != w[2] {
			t.Errorf("row %d = %q, want patient %q card %q phone %q", i+2, r, w[0], w[1], w[2])
		}
	}
}

// TestPrintable: result and export workbooks are created with the folder's normal
// permissions and print landscape, one page wide, header row repeated, headers
// wrapped in a tall enough row, columns as wide as their contents.
func TestPrintable(t *testing.T) {
	_, w := misFor(t, demo.SQLite)
	c, inbox, _ := newTestConnector(t, nil)
	writeBook(t, filepath.Join(inbox, "a.xlsx"), "Sheet1", [][]any{header,
		{"Иванов", "Иван", "Иванович", date(1985, 3, 15), "", "", "Слесарь-сборщик металлоконструкций", "Цех №1", 1, 32, "4.2.5"},
		{"Петров", "Пётр", "", date(2030, 1, 1)}, // a refused date cell
	})
	if err := runWait(c, context.Background(), &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	result := filepath.Join(inbox, "done", "a_результат.xlsx")
	rows := readSheet(t, result, sheetResult)
	if rows[2][4] != "01.01.2030" || !strings.Contains(rows[2][13], "01.01.2030 ещё не наступила") {
		t.Errorf("refused date cell shown as %q (%q), want the date", rows[2][4], rows[2][13])
	}
	for _, tc := range []struct{ path, sheet, wideCol, wideText string }{
		{result, sheetResult, "F", "М (по отчеству)"},
		{callListFixture(t), "Клиника на Ленина", "C", "пациент с кодом 103 (нет в данных medsync — найдите карту в МИС)"},
	} {
		checkPrintable(t, tc.path, tc.sheet, tc.wideCol, tc.wideText)
	}
}

func checkPrintable(t *testing.T, path, sheet, wideCol, wideText string) {
	t.Helper()
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		old := umask()
		if want := os.FileMode(0o666 &^ old); fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (0666 less the umask %03o)", filepath.Base(path), fi.Mode().Perm(), want, old)
		}
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pl, err := f.GetPageLayout(sheet)
	if err != nil {
		t.Fatal(err)
	}
	props, _ := f.GetSheetProps(sheet)
	if pl.Orientation == nil || *pl.Orientation != "landscape" || pl.FitToWidth == nil || *pl.FitToWidth != 1 ||
		pl.FitToHeight == nil || *pl.FitToHeight != 0 || props.FitToPage == nil || !*props.FitToPage {
		t.Errorf("%s: page layout %+v, fit to page %v", sheet, pl, props.FitToPage)
	}
	titles := false
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm.Print_Titles" && dn.Scope == sheet && strings.HasSuffix(dn.RefersTo, "!$1:$1") {
			titles = true
		}
	}
	if !titles {
		t.Errorf("%s: header row not repeated on printed pages: %+v", sheet, f.GetDefinedName())
	}
	width, _ := f.GetColWidth(sheet, wideCol)
	if width < float64(len([]rune(wideText)))*0.9 && width < 45 {
		t.Errorf("%s: column %s is %.0f wide for %q", sheet, wideCol, width, wideText)
	}
	// A title longer than its column wraps: the header row must be tall enough.
	heads, _ := f.GetRows(sheet)
	wraps := false
	for i, h := range heads[0] {
		col, _ := excelize.ColumnNumberToName(i + 1)
		cw, _ := f.GetColWidth(sheet, col)
		wraps = wraps || float64(len([]rune(h)))+1 > cw
	}
	if h, _ := f.GetRowHeight(sheet, 1); wraps && h < 30 {
		t.Errorf("%s: header row %.0f pt: wrapped titles would be clipped", sheet, h)
	}
}

// TestRendersInLibreOffice: result and export workbooks open in LibreOffice and print
// to PDF; the first page renders to a PNG (look at it: nothing clipped).
func TestRendersInLibreOffice(t *testing.T) {
	soffice(t)
	pdftoppm, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftoppm (poppler-utils) is not installed; .ci/run installs it")
		}
		t.Skip("pdftoppm is not installed: apt-get install poppler-utils")
	}
	_, w := misFor(t, demo.SQLite)
	c, inbox, _ := newTestConnector(t, nil)
	writeBook(t, filepath.Join(inbox, "list.xlsx"), "Sheet1", [][]any{header,
		{"Иванов", "Иван", "Иванович", date(1985, 3, 15), "", "8 922 123-45-67", "Слесарь-сборщик", "Цех №1", 1, 32, "4.2.5; 9.9.9"},
		{"Петров", "Пётр", "", date(2030, 1, 1)},
		{"Сидорова", "Анна", "Ильинична", "12 марта 1980 г.", "", "", "Бухгалтер", "Бухгалтерия", 0},
	})
	if err := runWait(c, context.Background(), &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("MEDSYNC_RENDER_DIR") // keep the pictures to look at them
	if out == "" {
		out = t.TempDir()
	}
	books := []string{filepath.Join(inbox, "done", "list_результат.xlsx"), callListFixture(t)}
	for _, b := range books {
		pdf := libreOffice(t, "pdf", out, b)[0]
		png := strings.TrimSuffix(pdf, ".pdf")
		if msg, err := exec.Command(pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", pdf, png).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm %s: %v\n%s", pdf, err, msg)
		}
		matches, _ := filepath.Glob(png + "*.png")
		if len(matches) == 0 {
			t.Fatalf("no page rendered from %s", pdf)
		}
		if fi, err := os.Stat(matches[0]); err != nil || fi.Size() < 2000 {
			t.Errorf("page render %s is empty (%v)", matches[0], err)
		}
	}
}
