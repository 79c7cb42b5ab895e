package mapping

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"  // driver "pgx"
	_ "github.com/microsoft/go-mssqldb" // driver "sqlserver"
	"github.com/microsoft/go-mssqldb/msdsn"
	_ "github.com/nakagami/firebirdsql" // drivers "firebirdsql" and "firebirdsql_createdb"
	_ "modernc.org/sqlite"              // driver "sqlite"
)

// PingTimeout bounds the connection check OpenDB makes.
const PingTimeout = 15 * time.Second

// Dialect returns the dialect of a driver name as config.ini may spell it:
// sqlserver/mssql, postgres/postgresql/pgx, mysql/mariadb, sqlite/sqlite3,
// firebird/firebirdsql. This and DriverName are the one place where driver names are
// mapped: the service, `medsync demo init`, `check` and the tests all go through them.
func Dialect(driver string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(driver)) {
	case "sqlserver", "mssql":
		return DialectSQLServer, nil
	case "postgres", "postgresql", "pgx", "pg":
		return DialectPostgres, nil
	case "mysql", "mariadb":
		return DialectMySQL, nil
	case "sqlite", "sqlite3":
		return DialectSQLite, nil
	case "firebird", "firebirdsql", "interbase":
		return DialectFirebird, nil
	}
	return "", fmt.Errorf("unknown database driver %q: use sqlserver, postgres, mysql, sqlite or firebird", driver)
}

// driverNames are the database/sql driver names the dialects register under.
var driverNames = map[string]string{
	DialectSQLServer: "sqlserver",
	DialectPostgres:  "pgx",
	DialectMySQL:     "mysql",
	DialectSQLite:    "sqlite",
	DialectFirebird:  "firebirdsql",
}

// DriverName returns the database/sql driver name that opens a config driver name
// (driver = postgres → "pgx", driver = firebird → "firebirdsql"), with its dialect.
func DriverName(driver string) (sqlDriver, dialect string, err error) {
	dialect, err = Dialect(driver)
	if err != nil {
		return "", "", err
	}
	return driverNames[dialect], dialect, nil
}

// ParseDSN checks a connection string without connecting (for `medsync check` and
// config validation). Errors never contain the password.
//
//   - sqlserver: "sqlserver://user:pass@host:1433?database=MIS" or the ADO form
//     "server=host;user id=…;password=…;database=MIS" (parsed by go-mssqldb's msdsn).
//   - postgres: "postgres://user:pass@host:5432/mis?sslmode=disable" or
//     "host=… user=… dbname=…" (pgx).
//   - mysql: "user:pass@tcp(host:3306)/mis" (go-sql-driver). parseTime is forced off
//     so DATE and TIME columns reach the profile as text, exactly as stored, with no
//     zone conversion by the driver; profile statements should compare dates with
//     :from_date/:to_date (or :from_ole/:to_ole) rather than :from/:to on MySQL.
//   - sqlite: a file path or "file:" URI (modernc.org/sqlite); busy_timeout(5000) is
//     added unless the DSN sets a busy_timeout pragma itself.
//   - firebird: "user:password@host:3050/path/to/db.fdb?charset=WIN1251" or
//     "user:password@host/C:/Data/MIS.FDB" on Windows, or an alias from the server's
//     databases.conf ("user:password@host/mis"); charset is the connection character
//     set (UTF8 when omitted; the server converts from the database's own code page).
//     A password with @ : / ? # & = % + or a space must be percent-encoded.
func ParseDSN(driver, dsn string) error {
	_, err := normalizeDSN(driver, dsn)
	return err
}

// normalizeDSN validates dsn and returns it in the form the driver is opened with
// (mysql: parseTime=false forced, a dial timeout; sqlite: a busy timeout added).
func normalizeDSN(driver, dsn string) (string, error) {
	dialect, err := Dialect(driver)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(dsn) == "" {
		return "", fmt.Errorf("%s: the connection string is empty: set [mis] dsn in config.ini", dialect)
	}
	pw := passwordOf(dialect, dsn)
	switch dialect {
	case DialectSQLServer:
		cfg, err := msdsn.Parse(dsn)
		if err != nil {
			return "", redact(fmt.Errorf("sqlserver: connection string: %w (expected sqlserver://user:password@host:1433?database=NAME or server=host;user id=…;password=…;database=NAME)", err), pw)
		}
		if cfg.Host == "" {
			return "", errors.New("sqlserver: connection string names no server: add server=host (or sqlserver://host)")
		}
		return dsn, nil
	case DialectPostgres:
		if _, err := pgx.ParseConfig(dsn); err != nil {
			return "", redact(fmt.Errorf("postgres: connection string: %w (expected postgres://user:password@host:5432/dbname or host=… user=… dbname=…)", err), pw)
		}
		return dsn, nil
	case DialectMySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", redact(fmt.Errorf("mysql: connection string: %w (expected user:password@tcp(host:3306)/dbname)", err), pw)
		}
		if cfg.DBName == "" {
			return "", errors.New("mysql: connection string names no database: end it with /dbname")
		}
		cfg.ParseTime = false
		if cfg.Timeout == 0 {
			cfg.Timeout = 10 * time.Second
		}
		return cfg.FormatDSN(), nil
	case DialectSQLite:
		if strings.Contains(dsn, "busy_timeout") {
			return dsn, nil
		}
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "_pragma=busy_timeout(5000)", nil
	case DialectFirebird:
		return normalizeFirebirdDSN(dsn, pw)
	}
	return "", fmt.Errorf("unknown dialect %q", dialect)
}

// OpenDB opens the MIS database and checks the connection with a ping (at most
// PingTimeout). It returns the dialect profiles are chosen by. Errors say what to
// check (host, port, credentials, database name) and never contain the password.
func OpenDB(ctx context.Context, driver, dsn string) (*sql.DB, string, error) {
	dialect, err := Dialect(driver)
	if err != nil {
		return nil, "", err
	}
	openDSN, err := normalizeDSN(driver, dsn)
	if err != nil {
		return nil, "", err
	}
	pw := passwordOf(dialect, dsn)
	db, err := sql.Open(driverNames[dialect], openDSN)
	if err != nil {
		return nil, "", redact(fmt.Errorf("%s: %w", dialect, err), pw)
	}
	if dialect == DialectSQLite {
		// One writer at a time; readers share the connection pool.
		db.SetMaxOpenConns(4)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, "", redact(fmt.Errorf("%s: cannot connect: %w; %s", dialect, err, connectHint(dialect)), pw)
	}
	return db, dialect, nil
}

func connectHint(dialect string) string {
	switch dialect {
	case DialectSQLite:
		return "check that the file exists and medsync's service account may read and write it and its folder"
	case DialectSQLServer:
		return "check the host and port (1433, or the named instance with SQL Browser running), that TCP/IP is enabled in SQL Server Configuration Manager, the firewall, the login and password (SQL Server authentication must be enabled), and the database name"
	case DialectPostgres:
		return "check the host and port (5432), pg_hba.conf for this server's address, the user and password, and the database name"
	case DialectMySQL:
		return "check the host and port (3306), that the user may connect from this server's address, the password, and the database name"
	case DialectFirebird:
		return "check the host and port (3050, RemoteServicePort and RemoteBindAddress in firebird.conf), the firewall, the user and password (Srp authentication, the Firebird 3 default), and the database path or alias as the server sees it"
	}
	return "check the host, port, credentials and database name"
}

// passwordOf extracts the password from a DSN so that errors can be redacted.
func passwordOf(dialect, dsn string) string {
	switch dialect {
	case DialectSQLServer:
		if cfg, err := msdsn.Parse(dsn); err == nil {
			return cfg.Password
		}
	case DialectPostgres:
		if cfg, err := pgx.ParseConfig(dsn); err == nil {
			return cfg.Password
		}
	case DialectMySQL:
		if cfg, err := mysql.ParseDSN(dsn); err == nil {
			return cfg.Passwd
		}
	case DialectFirebird:
		if u, err := url.Parse(firebirdURL(dsn)); err == nil && u.User != nil {
			p, _ := u.User.Password()
			return p
		}
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	return ""
}

// redactedError hides a password in an error's text while keeping the chain for
// errors.Is/As.
type redactedError struct {
	err error
	pw  string
}

func (e *redactedError) Error() string {
	s := e.err.Error()
	if len(e.pw) >= 1 {
		s = strings.ReplaceAll(s, e.pw, "***")
		if esc := url.QueryEscape(e.pw); esc != e.pw {
			s = strings.ReplaceAll(s, esc, "***")
		}
	}
	return s
}

func (e *redactedError) Unwrap() error { return e.err }

func redact(err error, pw string) error {
	if err == nil || pw == "" {
		return err
	}
	return &redactedError{err: err, pw: pw}
}
