package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"medsync/mapping"
)

// ErrExists is returned (wrapped) by Init when the database already holds demo tables
// and Sizes.Replace is not set.
var ErrExists = errors.New("the database already has demo MIS tables")

// DialectOf maps a driver name as config.ini or database/sql spells it to the demo
// dialect (mapping.Dialect: postgres/pgx → postgres, firebird/firebirdsql → firebird…).
func DialectOf(driver string) (string, error) {
	d, err := mapping.Dialect(driver)
	if err != nil {
		return "", fmt.Errorf("demo MIS: %w", err)
	}
	return d, checkDialect(d)
}

// SQLitePath is the file path inside a SQLite DSN ("file:demo.db?_pragma=..." or a
// plain path); "" for an in-memory database.
func SQLitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == ":memory:" || strings.HasPrefix(p, ":memory:") {
		return ""
	}
	return p
}

// Init opens the database of driver and dsn (a driver name as config.ini spells it, or
// the database/sql one), creates the demo MIS schema and seeds it with sizes. For
// SQLite it creates the file's folder; for Firebird the database when it is missing. It refuses a database that
// already has demo tables (the error wraps ErrExists) unless sizes.Replace is set, in
// which case it drops and recreates them. It is what `medsync demo init` runs.
func Init(ctx context.Context, driver, dsn string, sizes Sizes) (Stats, error) {
	dialect, err := DialectOf(driver)
	if err != nil {
		return Stats{}, err
	}
	if dialect == SQLite {
		if p := SQLitePath(dsn); p != "" {
			if dir := filepath.Dir(p); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return Stats{}, fmt.Errorf("demo MIS: creating the folder %s for the SQLite file: %w", dir, err)
				}
			}
		}
	}
	db, _, err := mapping.OpenDB(ctx, driver, dsn)
	if err != nil && dialect == Firebird {
		// A Firebird database is a file the server creates: make it when it is missing
		// (CreateFirebirdDatabase never overwrites one that exists).
		if cerr := mapping.CreateFirebirdDatabase(ctx, dsn); cerr == nil {
			db, _, err = mapping.OpenDB(ctx, driver, dsn)
		} else {
			err = fmt.Errorf("%w; creating it instead failed too: %v", err, cerr)
		}
	}
	if err != nil {
		return Stats{}, fmt.Errorf("demo MIS: %w", err)
	}
	defer db.Close()
	existing, err := ExistingTables(ctx, db, dialect)
	if err != nil {
		return Stats{}, err
	}
	if len(existing) > 0 {
		if !sizes.Replace {
			return Stats{}, fmt.Errorf("demo MIS: %w (%s); nothing was changed — run `medsync demo init --replace` to drop and recreate them, or point the DSN at an empty database",
				ErrExists, strings.Join(existing, ", "))
		}
		if err := DropSchema(ctx, db, dialect); err != nil {
			return Stats{}, err
		}
	}
	if err := CreateSchema(ctx, db, dialect); err != nil {
		return Stats{}, err
	}
	return Seed(ctx, db, dialect, sizes)
}
