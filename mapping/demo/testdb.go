package demo

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"medsync/mapping"
)

// Defaults of TestDB's servers; MEDSYNC_TEST_PG_DSN, MEDSYNC_TEST_MYSQL_DSN and
// MEDSYNC_TEST_FB_DSN override them (a postgres:// URL, a go-sql-driver/mysql DSN, and a
// Firebird DSN whose path is the server-side folder the test databases are created in).
const (
	defaultPGDSN    = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"
	defaultFBDSN    = "sysdba:masterkey@127.0.0.1:3050/var/lib/firebird/3.0/data"
)

// TestDB gives a test a fresh, empty database of dialect ("sqlite", "postgres",
// "mysql") and returns it opened, with the driver name and DSN that open it again.
//
//   - sqlite: a file in t.TempDir();
//   - postgres: a uniquely named database on 127.0.0.1:5432 as user postgres (or on the
//     server of MEDSYNC_TEST_PG_DSN), dropped in t.Cleanup after its connections end;
//   - mysql: the same on 127.0.0.1:3306 as root (or MEDSYNC_TEST_MYSQL_DSN), with
//     parseTime=false&multiStatements=false.
//   - firebird: a new database file <name>.fdb created through the driver on the
//     Firebird server at 127.0.0.1:3050 as SYSDBA (or MEDSYNC_TEST_FB_DSN), default
//     character set UTF8; its file is removed in t.Cleanup when the server is local.
//
// When the server cannot be reached the test is skipped with a message saying how to
// start it — or fails when the environment has CI=true.
func TestDB(t testing.TB, dialect string) (db *sql.DB, driver, dsn string) {
	t.Helper()
	switch dialect {
	case SQLite:
		driver = "sqlite"
		dsn = "file:" + filepath.ToSlash(filepath.Join(t.TempDir(), "mis.db")) + "?_pragma=busy_timeout(10000)"
	case Postgres:
		driver, dsn = "pgx", testPostgres(t)
	case MySQL:
		driver, dsn = "mysql", testMySQL(t)
	case Firebird:
		driver, dsn = "firebirdsql", TestFirebird(t, "UTF8")
	default:
		t.Fatalf("demo.TestDB: dialect %q is not available for tests (use sqlite, postgres, mysql or firebird)", dialect)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("demo.TestDB: opening %s: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	return db, driver, dsn
}

// TestMIS is TestDB with the demo schema created and seeded with sizes.
func TestMIS(t testing.TB, dialect string, sizes Sizes) (db *sql.DB, driver, dsn string, st Stats) {
	t.Helper()
	db, driver, dsn = TestDB(t, dialect)
	ctx := context.Background()
	if err := CreateSchema(ctx, db, dialect); err != nil {
		t.Fatalf("demo.TestMIS: %v", err)
	}
	st, err := Seed(ctx, db, dialect, sizes)
	if err != nil {
		t.Fatalf("demo.TestMIS: %v", err)
	}
	return db, driver, dsn, st
}

func unreachable(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s: %v", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: database integration tests are mandatory)", msg)
	}
	t.Skip(msg)
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// testDBName is a unique database name derived from the test's name.
func testDBName(t testing.TB) string {
	var b [5]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	base := nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	return "medsync_t_" + strings.Trim(base, "_") + "_" + hex.EncodeToString(b[:])
}

func testPostgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("MEDSYNC_TEST_PG_DSN")
	if admin == "" {
		admin = defaultPGDSN
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("demo.TestDB: MEDSYNC_TEST_PG_DSN must be a postgres:// URL, got %q", admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("demo.TestDB: %v", err)
	}
	if err := adb.PingContext(ctx); err != nil {
		adb.Close()
		unreachable(t, fmt.Sprintf("PostgreSQL is not reachable at %s as user %s; start it (`sudo service postgresql start`, trust auth for 127.0.0.1) or set MEDSYNC_TEST_PG_DSN to a postgres:// URL of a server where the user may CREATE DATABASE", u.Host, u.User.Username()), err)
	}
	name := testDBName(t)
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		adb.Close()
		t.Fatalf("demo.TestDB: creating PostgreSQL database %s on %s: %v", name, u.Host, err)
	}
	t.Cleanup(func() {
		defer adb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adb.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name) //nolint:errcheck // the DROP below reports
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("demo.TestDB: dropping PostgreSQL test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func testMySQL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("MEDSYNC_TEST_MYSQL_DSN")
	if admin == "" {
		admin = defaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatalf("demo.TestDB: MEDSYNC_TEST_MYSQL_DSN %q is not a MySQL DSN: %v", admin, err)
	}
	cfg.ParseTime = false
	cfg.MultiStatements = false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adb, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("demo.TestDB: %v", err)
	}
	if err := adb.PingContext(ctx); err != nil {
		adb.Close()
		unreachable(t, fmt.Sprintf("MariaDB/MySQL is not reachable at %s as user %s; start it (`sudo service mariadb start`, root without a password on 127.0.0.1) or set MEDSYNC_TEST_MYSQL_DSN to a DSN of a server where the user may CREATE DATABASE", cfg.Addr, cfg.User), err)
	}
	name := testDBName(t)
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		adb.Close()
		t.Fatalf("demo.TestDB: creating MySQL database %s on %s: %v", name, cfg.Addr, err)
	}
	t.Cleanup(func() {
		defer adb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("demo.TestDB: dropping MySQL test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "parseTime=false&multiStatements=false"
}

// TestFirebird creates an empty Firebird database of the given default character set
// (UTF8, WIN1251…) for the test and returns its DSN (connection charset the same).
// The database is created through the driver (firebirdsql_createdb) on the server of
// MEDSYNC_TEST_FB_DSN or 127.0.0.1:3050 as SYSDBA/masterkey, and its file is removed
// in t.Cleanup. Unreachable server: skipped, or failed when CI=true.
func TestFirebird(t testing.TB, charset string) string {
	t.Helper()
	admin := os.Getenv("MEDSYNC_TEST_FB_DSN")
	if admin == "" {
		admin = defaultFBDSN
	}
	u, err := url.Parse("firebird://" + strings.TrimPrefix(admin, "firebird://"))
	if err != nil || u.User == nil {
		t.Fatalf("demo.TestDB: MEDSYNC_TEST_FB_DSN must be user:password@host:port/folder, got %q", admin)
	}
	dir := strings.TrimRight(u.Path, "/")
	file := dir + "/" + testDBName(t) + ".fdb"
	u.Path = file
	q := u.Query()
	q.Set("charset", charset)
	u.RawQuery = q.Encode()
	dsn := strings.TrimPrefix(u.String(), "firebird://")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mapping.CreateFirebirdDatabase(ctx, dsn); err != nil {
		unreachable(t, fmt.Sprintf("cannot create a Firebird test database %s on %s as %s; install and start Firebird 3 "+
			"(`apt-get install firebird3.0-server`, then `.ci/run` sets SYSDBA's password to masterkey and starts it) "+
			"or set MEDSYNC_TEST_FB_DSN to user:password@host:port/folder of a server that may create databases there",
			file, u.Host, u.User.Username()), err)
	}
	t.Cleanup(func() {
		// Every connection of the test has closed by now (TestDB's Cleanup runs first):
		// the server has let go of the file.
		if _, err := os.Stat(file); err == nil {
			if err := os.Remove(file); err != nil {
				t.Errorf("demo.TestDB: removing Firebird test database %s: %v", file, err)
			}
		} else {
			t.Logf("demo.TestDB: Firebird test database %s is not on this machine; drop it on %s", file, u.Host)
		}
	})
	return dsn
}
