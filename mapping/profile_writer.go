package mapping

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"medsync/connectors"
)

// Writer runs a profile's write.* statements (bookings from ONDOC, staff-list imports,
// …) against the MIS. It implements connectors.MISWriter. Statement names are given
// with or without the "write." prefix: Has("booking") and Has("write.booking") are the
// same.
type Writer struct {
	db      *sql.DB
	dialect string
	p       *Profile
}

var _ connectors.MISWriter = (*Writer)(nil)

// NewWriter returns a writer over the profile's write statements for dialect, or nil
// when the profile declares none (medsync is read-only by default). A nil *Writer is
// safe: Has reports false and Tx fails.
func NewWriter(db *sql.DB, dialect string, p *Profile) connectors.MISWriter {
	if db == nil || p == nil || !p.HasWrites(dialect) {
		return nil
	}
	return &Writer{db: db, dialect: dialect, p: p}
}

func writeName(name string) string {
	if strings.HasPrefix(name, "write.") {
		return name
	}
	return "write." + name
}

var _ connectors.MISLimits = (*Writer)(nil)

// limitRe matches a length declaration inside a write statement: "-- limit :comment 500"
// says the text parameter :comment fills a column of 500 characters.
var limitRe = regexp.MustCompile(`(?m)^\s*--\s*limit\s+:([A-Za-z_][A-Za-z0-9_]*)\s+([0-9]+)\s*$`)

// MaxLen returns the smallest length any of the dialect's write statements declares
// for a text parameter ("-- limit :name N" inside the statement), or 0 when none does.
func (w *Writer) MaxLen(param string) int {
	if w == nil {
		return 0
	}
	best := 0
	for name, st := range w.p.stmts[w.dialect] {
		if !strings.HasPrefix(name, "write.") {
			continue
		}
		for _, m := range limitRe.FindAllStringSubmatch(st.SQL, -1) {
			if m[1] != param {
				continue
			}
			if n, err := strconv.Atoi(m[2]); err == nil && n > 0 && (best == 0 || n < best) {
				best = n
			}
		}
	}
	return best
}

// Has reports whether the profile declares the named write statement.
func (w *Writer) Has(name string) bool {
	if w == nil {
		return false
	}
	_, ok := w.p.stmts[w.dialect][writeName(name)]
	return ok
}

// Tx runs fn in one MIS transaction: committed when fn returns nil, rolled back
// otherwise (and when fn panics).
func (w *Writer) Tx(ctx context.Context, fn func(tx connectors.MISTx) error) (err error) {
	if w == nil {
		return fmt.Errorf("the MIS profile declares no write statements: medsync is read-only for this MIS")
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("profile %s: begin MIS transaction: %w", w.p.Name, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&writerTx{w: w, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("profile %s: commit MIS transaction: %w", w.p.Name, err)
	}
	committed = true
	return nil
}

type writerTx struct {
	w     *Writer
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // prepared once per transaction (a file import runs the same few statements per row); closed with the transaction
}

// prepared returns the transaction's prepared statement for the rendered query.
func (t *writerTx) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

func (t *writerTx) render(name string, params map[string]any) (ProfileStatement, string, []any, error) {
	st, err := t.w.p.statement(t.w.dialect, writeName(name))
	if err != nil {
		return st, "", nil, err
	}
	q, args, err := RenderSQL(t.w.dialect, st.SQL, params)
	if err != nil {
		return st, "", nil, fmt.Errorf("profile %s: %s (%s line %d): %w", t.w.p.Name, st.Name, st.File, st.Line, err)
	}
	if t.w.dialect == DialectSQLite {
		for i, a := range args {
			if tm, ok := a.(time.Time); ok {
				// SQLite has no date type: its date functions read this text form.
				args[i] = tm.Format("2006-01-02 15:04:05")
			}
		}
	}
	return st, q, args, nil
}

func (t *writerTx) Exec(ctx context.Context, name string, params map[string]any) (sql.Result, error) {
	st, q, args, err := t.render(name, params)
	if err != nil {
		return nil, err
	}
	ps, err := t.prepared(ctx, q)
	var res sql.Result
	if err == nil {
		res, err = ps.ExecContext(ctx, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s: %s (%s line %d): %w", t.w.p.Name, st.Name, st.File, st.Line, err)
	}
	return res, nil
}

func (t *writerTx) Query(ctx context.Context, name string, params map[string]any) (*sql.Rows, error) {
	st, q, args, err := t.render(name, params)
	if err != nil {
		return nil, err
	}
	ps, err := t.prepared(ctx, q)
	var rows *sql.Rows
	if err == nil {
		rows, err = ps.QueryContext(ctx, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s: %s (%s line %d): %w", t.w.p.Name, st.Name, st.File, st.Line, err)
	}
	return rows, nil
}
