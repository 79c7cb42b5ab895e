package mapping

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// serverClockSQL reads the database server's current local wall-clock time as text
// "YYYY-MM-DD HH:MM:SS…", in the dialect's own words. SQLite has no server: its clock
// is medsync's own machine's, so it is not asked.
var serverClockSQL = map[string]string{
	DialectPostgres:  "SELECT to_char(LOCALTIMESTAMP, 'YYYY-MM-DD HH24:MI:SS')",
	DialectMySQL:     "SELECT DATE_FORMAT(NOW(), '%Y-%m-%d %H:%i:%s')",
	DialectSQLServer: "SELECT CONVERT(varchar(19), GETDATE(), 120)",
	DialectFirebird:  "SELECT CAST(LOCALTIMESTAMP AS VARCHAR(24)) FROM RDB$DATABASE",
}

// ServerClock returns the MIS server's current local time as a wall-clock reading
// (its fields are the server's date and time; its location is UTC and means nothing),
// or ok = false when the dialect has no server clock to ask (SQLite).
func ServerClock(ctx context.Context, db *sql.DB, dialect string) (wall time.Time, ok bool, err error) {
	q, ok := serverClockSQL[dialect]
	if !ok {
		return time.Time{}, false, nil
	}
	var s string
	if err := db.QueryRowContext(ctx, q).Scan(&s); err != nil {
		return time.Time{}, true, fmt.Errorf("reading the MIS server's clock (%s): %w", q, err)
	}
	s = strings.TrimSpace(s)
	if len(s) > 19 {
		s = s[:19]
	}
	wall, err = time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		return time.Time{}, true, fmt.Errorf("the MIS server's clock reads %q: %w", s, err)
	}
	return wall, true, nil
}

// ClockOffset compares a server's wall-clock reading taken at instant now with the
// wall clock of zone at that instant: the result is how far the server's local time
// is ahead of zone's (rounded to the minute). Two hours ahead of Europe/Moscow is a
// server in Asia/Yekaterinburg, or one whose OS zone is set so.
func ClockOffset(wall time.Time, now time.Time, zone *time.Location) time.Duration {
	local := now.In(zone)
	asUTC := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), time.UTC)
	return wall.Sub(asUTC).Round(time.Minute)
}
