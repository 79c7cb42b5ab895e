package excel

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

// testHost is the engine's side of Run in tests.
type testHost struct {
	log     *slog.Logger
	dir     string
	mis     connectors.MISWriter
	records map[string]map[string]any // entity → key → record: the engine's synced records
}

func (h *testHost) Logger() *slog.Logger      { return h.log }
func (h *testHost) StateDir() string          { return h.dir }
func (h *testHost) MIS() connectors.MISWriter { return h.mis }
func (h *testHost) Refresh(context.Context, connectors.RefreshRequest) error {
	return nil
}
func (h *testHost) Records(_ context.Context, entity string, fn func(string, json.RawMessage) error) error {
	for key, r := range h.records[entity] {
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := fn(key, data); err != nil {
			return err
		}
	}
	return nil
}

// logBuffer collects log lines for assertions.
type logBuffer struct{ strings.Builder }

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	var w io.Writer = buf
	if testing.Verbose() {
		w = io.MultiWriter(buf, os.Stderr)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// values fills option defaults the way the config loader does.
func values(m map[string]string) *connectors.Values {
	full := map[string]string{}
	for _, o := range options {
		if !o.Pattern && o.Default != "" {
			full[o.Name] = o.Default
		}
	}
	for k, v := range m {
		full[k] = v
	}
	return connectors.NewValues("config.ini", "connector.excel", full)
}

// newTestConnector builds a connector for organization "zavod" (MIS org 1) with its
// inbox in a temp folder, files imported at once (settle 0) and a fixed clock.
func newTestConnector(t testing.TB, extra map[string]string) (*Connector, string, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	m := map[string]string{
		"organizations":    "zavod",
		"org.zavod.inbox":  inbox,
		"org.zavod.mis_id": "1",
		"org.zavod.name":   "Казанский завод металлоконструкций",
		"settle":           "0",
		"timezone":         "Europe/Moscow",
	}
	for k, v := range extra {
		m[k] = v
	}
	log, buf := testLogger(t)
	c, err := New(connectors.Env{Instance: "excel", Logger: log, StateDir: filepath.Join(dir, "state"), BaseDir: dir}, values(m))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.now = func() time.Time { return time.Date(2025, 6, 10, 9, 0, 0, 0, time.UTC) }
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	return c, inbox, buf
}

// header is the usual first row of an employer's list (columns A..K).
var header = []any{"Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Телефон", "Должность", "Подразделение", "Вид осмотра", "Условия труда", "Вредные факторы"}

// writeBook writes an .xlsx with one sheet: rows[i] goes to row i+1. A time.Time value
// becomes a real date cell.
func writeBook(t testing.TB, path, sheet string, rows [][]any) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if sheet != "Sheet1" {
		if err := f.SetSheetName("Sheet1", sheet); err != nil {
			t.Fatal(err)
		}
	}
	dateFmt := "dd.mm.yyyy"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		for j, v := range row {
			if v == nil {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			if err := f.SetCellValue(sheet, cell, v); err != nil {
				t.Fatal(err)
			}
			if _, ok := v.(time.Time); ok {
				if err := f.SetCellStyle(sheet, cell, cell, dateStyle); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

// readSheet returns all rows of a sheet of a workbook (formatted values).
func readSheet(t testing.TB, path, sheet string) [][]string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("%s: sheet %s: %v", path, sheet, err)
	}
	return rows
}

// misFor creates the demo MIS schema on dialect and returns a writer for the demo profile.
func misFor(t testing.TB, dialect string) (*sql.DB, connectors.MISWriter) {
	t.Helper()
	db, _, _ := demo.TestDB(t, dialect)
	if err := demo.CreateSchema(context.Background(), db, dialect); err != nil {
		t.Fatalf("CreateSchema: %v", err)
	}
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatalf("LoadProfile: %v", err)
	}
	w := mapping.NewWriter(db, dialect, p)
	if w == nil {
		t.Fatal("demo profile declares no write statements")
	}
	return db, w
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func mustCount(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// runWait runs one poll and waits until the import worker has taken every file it
// queued.
func runWait(c *Connector, ctx context.Context, host connectors.Host) error {
	err := c.Run(ctx, host)
	c.wait()
	return err
}

var quoted = regexp.MustCompile(`«[^»]*»`)

var latinWord = regexp.MustCompile(`[A-Za-z][A-Za-z0-9_.\-]*`)

// englishWord returns the first English word of a Russian message, or "". Names of
// formats and programs and config keys (org.x.sheet) are not English text.
func englishWord(msg string) string {
	allowed := map[string]bool{"Excel": true, "LibreOffice": true, "ODF": true, "CSV": true, "xlsx": true, "xls": true, "ods": true,
		"csv": true, "xlsb": true, "medsync": true, "strict": true, "Windows-1251": true, "UTF-8": true}
	msg = quoted.ReplaceAllString(msg, "«»") // names of sheets, files, columns
	for _, w := range latinWord.FindAllString(msg, -1) {
		w = strings.TrimRight(w, ".")
		if allowed[w] || strings.ContainsAny(w, "._") || len(w) < 3 {
			continue
		}
		return w
	}
	return ""
}
