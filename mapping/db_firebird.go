package mapping

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// firebirdURL gives a Firebird DSN the scheme the driver parses it with.
func firebirdURL(dsn string) string {
	if strings.HasPrefix(dsn, "firebird://") {
		return dsn
	}
	return "firebird://" + dsn
}

// normalizeFirebirdDSN checks "user:password@host[:port]/database[?params]" and returns
// it without the scheme, as the driver takes it.
func normalizeFirebirdDSN(dsn, pw string) (string, error) {
	const form = "expected user:password@host:3050/path/to/db.fdb?charset=WIN1251 (or host/C:/Data/MIS.FDB, or host/alias)"
	u, err := url.Parse(firebirdURL(strings.TrimSpace(dsn)))
	if err != nil {
		return "", redact(fmt.Errorf("firebird: connection string: %w (%s; percent-encode @ : / ? # & = %% + and spaces in the password)", err, form), pw)
	}
	if u.User == nil || u.User.Username() == "" {
		return "", fmt.Errorf("firebird: connection string names no user: %s", form)
	}
	if u.Host == "" {
		return "", fmt.Errorf("firebird: connection string names no server: %s", form)
	}
	if strings.Trim(u.Path, "/") == "" {
		return "", fmt.Errorf("firebird: connection string names no database: %s", form)
	}
	if u.Fragment != "" || strings.Contains(dsn, "#") {
		return "", errors.New("firebird: connection string contains '#': write it as %23 (in the password or the path), otherwise everything after it is lost")
	}
	return strings.TrimPrefix(u.String(), "firebird://"), nil
}

// CreateFirebirdDatabase creates the Firebird database a DSN names (its default
// character set is the DSN's charset, UTF8 when omitted). It refuses when the
// database exists already: a database is never overwritten. The path is as the server
// sees it, and the server's account must be allowed to write its folder.
func CreateFirebirdDatabase(ctx context.Context, dsn string) error {
	openDSN, err := normalizeDSN(DialectFirebird, dsn)
	if err != nil {
		return err
	}
	pw := passwordOf(DialectFirebird, dsn)
	if db, err := sql.Open(driverNames[DialectFirebird], openDSN); err == nil {
		perr := db.PingContext(ctx)
		db.Close()
		if perr == nil {
			return errors.New("firebird: the database exists already; it is left as it is")
		}
	}
	db, err := sql.Open("firebirdsql_createdb", openDSN)
	if err != nil {
		return redact(fmt.Errorf("firebird: %w", err), pw)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return redact(fmt.Errorf("firebird: creating the database: %w; %s", err, connectHint(DialectFirebird)), pw)
	}
	return nil
}
