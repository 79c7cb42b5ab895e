// Package demo is medsync's embedded demo MIS: a legacy-style clinic database modelled
// on ArchiMed+ (upper-case tables, OLE dates, day fractions, MODIFYDATE versions) with
// DDL for SQLite, PostgreSQL, MySQL/MariaDB, SQL Server and Firebird, a fast deterministic seeder
// of realistic Russian data (including a few deliberately bad rows), the logic behind
// `medsync demo init`, mutation helpers that tests and README demos use to change the
// MIS the way a registrar would, and TestDB, which gives other packages' tests a fresh
// database on each dialect.
package demo

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
)

// Dialect names accepted by every function of the package.
const (
	SQLite    = "sqlite"
	Postgres  = "postgres"
	MySQL     = "mysql"
	SQLServer = "sqlserver"
	Firebird  = "firebird"
)

// Dialects lists the dialects the demo schema exists in.
var Dialects = []string{SQLite, Postgres, MySQL, SQLServer, Firebird}

// The base schema of each dialect is schema_<dialect>.sql; other packages' engineers add
// their own tables as schema_<dialect>.<part>.sql files in this folder, picked up here.
//
//go:embed schema_*.sql
var schemaFS embed.FS

func checkDialect(dialect string) error {
	for _, d := range Dialects {
		if d == dialect {
			return nil
		}
	}
	return fmt.Errorf("demo MIS: unknown SQL dialect %q (use one of %s)", dialect, strings.Join(Dialects, ", "))
}

// schemaFiles returns the embedded schema files of dialect in the order they run: the
// base file first, then the part files in name order.
func schemaFiles(fsys fs.FS, dialect string) ([]string, error) {
	if err := checkDialect(dialect); err != nil {
		return nil, err
	}
	base := "schema_" + dialect + ".sql"
	parts, err := fs.Glob(fsys, "schema_"+dialect+".*.sql")
	if err != nil {
		return nil, fmt.Errorf("demo MIS: listing schema parts of %s: %w", dialect, err)
	}
	sort.Strings(parts)
	return append([]string{base}, parts...), nil
}

// Schema returns the complete DDL script of dialect: the base schema followed by every
// part file (schema_<dialect>.<part>.sql) in name order.
func Schema(dialect string) (string, error) { return schemaIn(schemaFS, dialect) }

func schemaIn(fsys fs.FS, dialect string) (string, error) {
	files, err := schemaFiles(fsys, dialect)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "", fmt.Errorf("demo MIS: reading embedded %s: %w", name, err)
		}
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// SplitStatements splits a DDL script into statements. A statement ends at a line whose
// last non-blank character is ';' (the ';' is dropped). Chunks that hold only blank and
// "--" comment lines are left out.
func SplitStatements(script string) []string {
	var (
		out  []string
		cur  strings.Builder
		real bool // cur holds something other than comments
	)
	flush := func() {
		if real {
			s := strings.TrimSpace(cur.String())
			s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
			if s != "" {
				out = append(out, s)
			}
		}
		cur.Reset()
		real = false
	}
	for _, line := range strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		real = true
		if strings.HasSuffix(t, ";") {
			flush()
		}
	}
	flush()
	return out
}

// CreateSchema creates the demo MIS tables of dialect in db: it runs the embedded
// schema_<dialect>.sql and then every schema_<dialect>.<part>.sql in name order, one
// statement at a time.
func CreateSchema(ctx context.Context, db *sql.DB, dialect string) error {
	return createSchemaIn(ctx, db, schemaFS, dialect)
}

func createSchemaIn(ctx context.Context, db *sql.DB, fsys fs.FS, dialect string) error {
	files, err := schemaFiles(fsys, dialect)
	if err != nil {
		return err
	}
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("demo MIS: reading embedded %s: %w", name, err)
		}
		for i, stmt := range SplitStatements(string(data)) {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("demo MIS: creating the schema: %s statement %d (%s): %w", name, i+1, firstLine(stmt), err)
			}
		}
	}
	return nil
}

var createTableRe = regexp.MustCompile("(?i)CREATE\\s+TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?[\"`\\[]?([A-Za-z_][A-Za-z0-9_]*)")

// Tables lists the tables the embedded schema of dialect creates (base and parts), in
// creation order.
func Tables(dialect string) ([]string, error) { return tablesIn(schemaFS, dialect) }

func tablesIn(fsys fs.FS, dialect string) ([]string, error) {
	script, err := schemaIn(fsys, dialect)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, stmt := range SplitStatements(script) {
		if m := createTableRe.FindStringSubmatch(stmt); m != nil {
			out = append(out, m[1])
		}
	}
	return out, nil
}

// DropSchema drops every table of the embedded schema of dialect that exists in db, in
// reverse creation order.
func DropSchema(ctx context.Context, db *sql.DB, dialect string) error {
	tables, err := Tables(dialect)
	if err != nil {
		return err
	}
	drop := "DROP TABLE IF EXISTS "
	if dialect == Firebird { // Firebird 3 has no DROP TABLE IF EXISTS
		drop = "DROP TABLE "
		if tables, err = ExistingTables(ctx, db, dialect); err != nil {
			return err
		}
	}
	for i := len(tables) - 1; i >= 0; i-- {
		if _, err := db.ExecContext(ctx, drop+tables[i]); err != nil {
			return fmt.Errorf("demo MIS: dropping table %s: %w", tables[i], err)
		}
	}
	if dialect == Firebird {
		return dropSequences(ctx, db)
	}
	return nil
}

var createSequenceRe = regexp.MustCompile(`(?i)CREATE\s+SEQUENCE\s+([A-Za-z_][A-Za-z0-9_]*)`)

// dropSequences drops the generators the Firebird schema creates, where they exist.
func dropSequences(ctx context.Context, db *sql.DB) error {
	script, err := Schema(Firebird)
	if err != nil {
		return err
	}
	for _, m := range createSequenceRe.FindAllStringSubmatch(script, -1) {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM RDB$GENERATORS WHERE TRIM(RDB$GENERATOR_NAME) = UPPER(CAST(? AS VARCHAR(63)))", m[1]).Scan(&n); err != nil {
			return fmt.Errorf("demo MIS: checking generator %s: %w", m[1], err)
		}
		if n > 0 {
			if _, err := db.ExecContext(ctx, "DROP SEQUENCE "+m[1]); err != nil {
				return fmt.Errorf("demo MIS: dropping generator %s: %w", m[1], err)
			}
		}
	}
	return nil
}

// firebirdGenerators are the demo MIS's Firebird generators with the id column each
// numbers.
var firebirdGenerators = []struct{ table, column, generator string }{
	{"SCHEDULE", "SCHEDID", "GEN_SCHEDULE_ID"},
	{"CLIENTS", "PCODE", "GEN_CLIENTS_ID"},
}

// syncGenerators sets each of Firebird's generators to the largest id of its table.
func syncGenerators(ctx context.Context, db *sql.DB) error {
	for _, g := range firebirdGenerators {
		var top, cur int64
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT COALESCE(MAX(%s), 0) FROM %s", g.column, g.table)).Scan(&top); err != nil {
			return fmt.Errorf("demo MIS: reading the last %s: %w", g.column, err)
		}
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT GEN_ID(%s, 0) FROM RDB$DATABASE", g.generator)).Scan(&cur); err != nil {
			return fmt.Errorf("demo MIS: reading %s: %w", g.generator, err)
		}
		if top > cur {
			// Fetched, not Exec'ed: Firebird evaluates a SELECT's columns only when its
			// row is fetched.
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT GEN_ID(%s, %d) FROM RDB$DATABASE", g.generator, top-cur)).Scan(&cur); err != nil {
				return fmt.Errorf("demo MIS: advancing %s: %w", g.generator, err)
			}
		}
	}
	return nil
}

// ExistingTables returns the tables of the embedded schema of dialect that already exist
// in db.
func ExistingTables(ctx context.Context, db *sql.DB, dialect string) ([]string, error) {
	tables, err := Tables(dialect)
	if err != nil {
		return nil, err
	}
	var q string
	switch dialect {
	case SQLite:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND UPPER(name) = UPPER(?)"
	case Postgres:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND UPPER(table_name) = UPPER($1)"
	case MySQL:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND UPPER(table_name) = UPPER(?)"
	case SQLServer:
		q = "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE UPPER(TABLE_NAME) = UPPER(@p1)"
	case Firebird:
		q = "SELECT COUNT(*) FROM RDB$RELATIONS WHERE RDB$SYSTEM_FLAG = 0 AND TRIM(RDB$RELATION_NAME) = UPPER(CAST(? AS VARCHAR(63)))"
	}
	var out []string
	for _, t := range tables {
		var n int
		if err := db.QueryRowContext(ctx, q, t).Scan(&n); err != nil {
			return nil, fmt.Errorf("demo MIS: checking whether table %s exists: %w", t, err)
		}
		if n > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
