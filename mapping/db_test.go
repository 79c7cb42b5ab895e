package mapping_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		driver, dsn string
		wantErr     string // "" = valid
	}{
		{"sqlserver", "sqlserver://medsync:pw@mis:1433?database=MIS", ""},
		{"mssql", "server=mis;user id=medsync;password=pw;database=MIS", ""},
		{"sqlserver", "sqlserver://medsync:pw@mis:notaport?database=MIS", "sqlserver: connection string"},
		{"postgres", "postgres://postgres@127.0.0.1:5432/mis?sslmode=disable", ""},
		{"postgresql", "host=127.0.0.1 user=postgres dbname=mis", ""},
		{"pgx", "postgres://u:p@h:notaport/db", "postgres: connection string"},
		{"mysql", "root:pw@tcp(127.0.0.1:3306)/mis", ""},
		{"mariadb", "root@tcp(127.0.0.1:3306)/", "names no database"},
		{"mysql", "root:pw@tcp(127.0.0.1:3306/mis", "mysql: connection string"},
		{"sqlite", "/var/lib/medsync/demo.db", ""},
		{"sqlite", " ", "connection string is empty"},
		{"oracle", "x", "unknown database driver"},
	}
	for _, tt := range tests {
		err := mapping.ParseDSN(tt.driver, tt.dsn)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %q: %v", tt.driver, tt.dsn, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s %q: error %v, want %q", tt.driver, tt.dsn, err, tt.wantErr)
		}
	}
}

func TestOpenDBErrorsHidePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const pw = "Sup3r-Secret"
	// Nothing listens on port 1: the error names what to check, not the password.
	for _, c := range []struct{ driver, dsn string }{
		{"sqlserver", "sqlserver://medsync:" + pw + "@127.0.0.1:1?database=MIS&dial+timeout=2"},
		{"postgres", "postgres://medsync:" + pw + "@127.0.0.1:1/mis?connect_timeout=2"},
		{"mysql", "medsync:" + pw + "@tcp(127.0.0.1:1)/mis?timeout=2s"},
	} {
		db, _, err := mapping.OpenDB(ctx, c.driver, c.dsn)
		if err == nil {
			db.Close()
			t.Fatalf("%s: connected to port 1", c.driver)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: error shows the password: %v", c.driver, err)
		}
		if !strings.Contains(err.Error(), "check the host and port") {
			t.Errorf("%s: error gives no hint: %v", c.driver, err)
		}
	}
}

func TestOpenDBSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mis.db")
	db, dialect, err := mapping.OpenDB(context.Background(), "sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if dialect != "sqlite" {
		t.Errorf("dialect %q", dialect)
	}
	var timeout int
	if err := db.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout != 5000 {
		t.Errorf("busy_timeout = %d, %v", timeout, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}

func TestOpenDBServers(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ driver, dsn, dialect string }{
		{"postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres"},
		{"mariadb", "root@tcp(127.0.0.1:3306)/mysql?parseTime=true", "mysql"},
	} {
		db, dialect, err := mapping.OpenDB(ctx, c.driver, c.dsn)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s (CI=true: database servers are mandatory): %v", c.driver, err)
			}
			t.Logf("skipping %s: %v", c.driver, err)
			continue
		}
		if dialect != c.dialect {
			t.Errorf("%s: dialect %q", c.driver, dialect)
		}
		if c.dialect == "mysql" {
			// parseTime is forced off: dates arrive as text.
			var v any
			if err := db.QueryRow("SELECT DATE('2025-03-20')").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if _, isBytes := v.([]byte); !isBytes {
				t.Errorf("mysql DATE arrived as %T, want text ([]byte)", v)
			}
		}
		db.Close()
	}
}
