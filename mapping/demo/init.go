package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	// Drivers of the dialects the demo MIS runs on here. SQL Server's driver is
	// registered by the binary that needs it.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// ErrExists is returned (wrapped) by Init when the database already holds demo tables
// and Sizes.Replace is not set.
var ErrExists = errors.New("the database already has demo MIS tables")

// DialectOf maps a database/sql driver name to the demo dialect: "sqlite" → sqlite,
// "pgx"/"postgres" → postgres, "mysql" → mysql, "sqlserver"/"mssql" → sqlserver.
func DialectOf(driver string) (string, error) {
	switch strings.ToLower(driver) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "pgx", "postgres", "postgresql":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	case "sqlserver", "mssql":
		return SQLServer, nil
	}
	return "", fmt.Errorf("demo MIS: unknown database driver %q (use sqlite, pgx, mysql or sqlserver)", driver)
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

// Init opens the database of driver and dsn, creates the demo MIS schema and seeds it
// with sizes. For SQLite it creates the file's folder. It refuses a database that
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
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return Stats{}, fmt.Errorf("demo MIS: opening the %s database: %w", driver, err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return Stats{}, fmt.Errorf("demo MIS: connecting to the %s database (check the DSN and that the server runs): %w", driver, err)
	}
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
