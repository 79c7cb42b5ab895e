package demo

import (
	"medsync/mapping/convert"
	"strconv"
	"strings"
	"time"
)

// The MIS keeps dates as OLE day numbers (days since 1899-12-30) and times of day as
// day fractions; the encoders of medsync/mapping/convert write them.

// oleDay is the OLE day number of t's calendar date (its wall clock in t's location).
func oleDay(t time.Time) int { return int(convert.ToOLE(convert.FromTime(t))) }

// dayFromOLE is the calendar date (UTC midnight) of an OLE day number.
func dayFromOLE(day int) time.Time {
	return time.Date(1899, time.December, 30+day, 0, 0, 0, 0, time.UTC)
}

// minutesFrac is the day fraction of a time of day given in minutes after midnight.
func minutesFrac(min int) float64 { return convert.ToDayFraction(time.Duration(min) * time.Minute) }

// oleDateTime is the OLE date-time (day + fraction) of t's wall clock in its location.
func oleDateTime(t time.Time) float64 { return convert.ToOLEDateTime(t) }

// rebind turns the '?' placeholders of q into the dialect's style: $1.. for PostgreSQL
// (pgx), @p1.. for SQL Server, '?' for SQLite and MySQL. q must not hold '?' literals.
func rebind(dialect, q string) string {
	var prefix string
	switch dialect {
	case Postgres:
		prefix = "$"
	case SQLServer:
		prefix = "@p"
	default:
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString(prefix)
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
