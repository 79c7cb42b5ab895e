package demo

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// inserter writes rows of one table in multi-row INSERT batches through a prepared
// statement that is reused for every full batch.
type inserter struct {
	ctx     context.Context
	tx      *sql.Tx
	dialect string
	table   string
	cols    []string
	batch   int
	full    *sql.Stmt
	args    []any
	rows    int // rows buffered
	count   int // rows written
}

func newInserter(ctx context.Context, tx *sql.Tx, dialect, table string, cols ...string) *inserter {
	batch := 500
	switch dialect {
	case SQLite:
		batch = 100
	case SQLServer:
		batch = min(500, 2000/len(cols)) // 2100 parameters at most per statement
	case Firebird:
		batch = 1 // Firebird 3 has no multi-row VALUES: one prepared INSERT per row
	}
	return &inserter{ctx: ctx, tx: tx, dialect: dialect, table: table, cols: cols, batch: batch,
		args: make([]any, 0, batch*len(cols))}
}

func (in *inserter) query(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(in.table)
	b.WriteString(" (")
	b.WriteString(strings.Join(in.cols, ", "))
	b.WriteString(") VALUES ")
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(in.cols)), ", ") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	return rebind(in.dialect, b.String())
}

// add buffers one row; its values must follow cols.
func (in *inserter) add(vals ...any) error {
	if len(vals) != len(in.cols) {
		return fmt.Errorf("demo MIS: %s row has %d values for %d columns", in.table, len(vals), len(in.cols))
	}
	in.args = append(in.args, vals...)
	in.rows++
	if in.rows < in.batch {
		return nil
	}
	if in.full == nil {
		st, err := in.tx.PrepareContext(in.ctx, in.query(in.batch))
		if err != nil {
			return fmt.Errorf("demo MIS: preparing the INSERT into %s: %w", in.table, err)
		}
		in.full = st
	}
	if _, err := in.full.ExecContext(in.ctx, in.args...); err != nil {
		return fmt.Errorf("demo MIS: inserting %d rows into %s: %w", in.rows, in.table, err)
	}
	in.count += in.rows
	in.rows = 0
	in.args = in.args[:0]
	return nil
}

// flush writes the buffered rows and closes the prepared statement.
func (in *inserter) flush() error {
	if in.rows > 0 {
		if _, err := in.tx.ExecContext(in.ctx, in.query(in.rows), in.args...); err != nil {
			return fmt.Errorf("demo MIS: inserting %d rows into %s: %w", in.rows, in.table, err)
		}
		in.count += in.rows
		in.rows = 0
		in.args = in.args[:0]
	}
	if in.full != nil {
		err := in.full.Close()
		in.full = nil
		if err != nil {
			return fmt.Errorf("demo MIS: closing the INSERT into %s: %w", in.table, err)
		}
	}
	return nil
}
