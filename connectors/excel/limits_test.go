package excel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping/demo"
)

// writeFormattedTail writes a staff list with data rows and then n formatted empty
// rows (what a sheet whose whole columns were formatted looks like), and a data row
// after them.
func writeFormattedTail(t *testing.T, path string, n int) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	style, _ := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFFF00"}}})
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	_ = sw.SetRow("A1", header)
	_ = sw.SetRow("A2", []any{"Иванов", "Иван", "Иванович", "15.03.1985"})
	empty := make([]any, 11)
	for i := range empty {
		empty[i] = excelize.Cell{StyleID: style}
	}
	for i := 0; i < n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+3)
		if err := sw.SetRow(cell, empty); err != nil {
			t.Fatal(err)
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, n+3)
	_ = sw.SetRow(cell, []any{"Петров", "Пётр", "Петрович", "15.03.1985"})
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

// TestZipBomb: a workbook unpacking to more than max_unpacked_mb is refused before it
// is read; a sheet ends after max_empty_rows empty rows, and the result says where.
func TestZipBomb(t *testing.T) {
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	c, inbox, logs := newTestConnector(t, map[string]string{"max_unpacked_mb": "5", "max_empty_rows": "1000"})
	writeFormattedTail(t, filepath.Join(inbox, "bomb.xlsx"), 60000)
	writeFormattedTail(t, filepath.Join(inbox, "tail.xlsx"), 3000)
	fi, _ := os.Stat(filepath.Join(inbox, "bomb.xlsx"))
	start := time.Now()
	if err := runWait(c, ctx, &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d KB bomb and the tail file took %v", fi.Size()>>10, time.Since(start))
	sum := readSheet(t, filepath.Join(inbox, "failed", "bomb_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "слишком велик в распакованном виде") || !strings.Contains(sum[8][1], "допустимо 5 МБ") {
		t.Errorf("bomb: %q", sum[8][1])
	}
	sum = readSheet(t, filepath.Join(inbox, "done", "tail_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "Загружено: 1") || !strings.Contains(sum[8][1], "Лист прочитан до строки 1003") {
		t.Errorf("tail: %q; log:\n%s", sum[8][1], logs)
	}
	if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST`); n != 1 {
		t.Errorf("%d rows listed", n)
	}
}

// blockingMIS holds every transaction until released (or its context ends).
type blockingMIS struct {
	connectors.MISWriter
	entered chan struct{}
	release chan struct{}
}

func (b *blockingMIS) Tx(ctx context.Context, fn func(connectors.MISTx) error) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.MISWriter.Tx(ctx, fn)
}

// TestPollNotHeld: Run returns while an import is still in its MIS transaction; an
// import that outlives import_timeout is rolled back and its file goes to failed/.
func TestPollNotHeld(t *testing.T) {
	ctx := context.Background()
	db, w := misFor(t, demo.SQLite)
	mis := &blockingMIS{MISWriter: w, entered: make(chan struct{}, 1), release: make(chan struct{})}
	c, inbox, _ := newTestConnector(t, nil)
	path := filepath.Join(inbox, "a.xlsx")
	writeBook(t, path, "Sheet1", [][]any{header, {"Иванов", "Иван", "Иванович", "15.03.1985"}})
	host := &testHost{log: c.log, mis: mis}
	if err := c.Run(ctx, host); err != nil {
		t.Fatal(err)
	}
	<-mis.entered                            // the worker is inside the import's transaction, and Run has returned
	if err := c.Run(ctx, host); err != nil { // a poll meanwhile does not queue the file twice
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("file left the inbox before its import finished")
	}
	close(mis.release)
	c.wait()
	if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST`); n != 1 {
		t.Errorf("%d rows listed, want 1", n)
	}

	slow := &blockingMIS{MISWriter: w, entered: make(chan struct{}, 1), release: make(chan struct{})}
	c2, inbox2, _ := newTestConnector(t, map[string]string{"import_timeout": "1s"})
	writeBook(t, filepath.Join(inbox2, "slow.xlsx"), "Sheet1", [][]any{header, {"Петров", "Пётр", "Петрович", "15.03.1985"}})
	if err := runWait(c2, ctx, &testHost{log: c2.log, mis: slow}); err != nil {
		t.Fatal(err)
	}
	sum := readSheet(t, filepath.Join(inbox2, "failed", "slow_результат.xlsx"), sheetSummary)
	if !strings.Contains(sum[8][1], "Файл не обработан за 1 с") {
		t.Errorf("timeout: %q", sum[8][1])
	}
	if n := mustCount(t, db, `SELECT COUNT(*) FROM CLIENTS WHERE LASTNAME = 'Петров'`); n != 0 {
		t.Error(fmt.Sprint("a timed-out import wrote ", n, " cards"))
	}
}

// TestCloseFinishesQueued: Close lets the worker import what a poll queued (medsync
// once polls, then closes).
func TestCloseFinishesQueued(t *testing.T) {
	db, w := misFor(t, demo.SQLite)
	c, inbox, _ := newTestConnector(t, nil)
	writeBook(t, filepath.Join(inbox, "a.xlsx"), "Sheet1", [][]any{header, {"Иванов", "Иван", "Иванович", "15.03.1985"}})
	if err := c.Run(context.Background(), &testHost{log: c.log, mis: w}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, db, `SELECT COUNT(*) FROM PROFLIST`); n != 1 {
		t.Errorf("%d rows listed after Close, want 1", n)
	}
}
