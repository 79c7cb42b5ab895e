package mapping

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"medsync/mapping/convert"
)

// Bucket is the MIS's summary of one day of a windowed entity, or of the whole table
// of another, computed by the database: how many rows it has and the sum of their
// checksums.
type Bucket struct {
	Day      convert.Date // the day, read with the entity's date converter (zero for a table)
	Rows     int64
	Checksum int64
	Valid    bool // false when the database returned no checksum (NULL)
}

// Summarizer is implemented by readers whose profile declares <entity>.summary: a
// statement that returns a few rows per day instead of a row per record, so that a
// poll reads (key, version) pairs only for the days whose summary moved — or, for an
// entity without a window (patients), one row for the whole table (no bucket column),
// so that an unchanged table reads nothing else.
//
// The contract: <entity>.summary returns bucket (the day, as the entity's date
// column), row_count (COUNT(*)) and checksum (the SUM of a per-row expression of key
// and version, a whole number from 0 to 4294967295 per row); <entity>.versions
// returns the same per-row expression as a column named checksum, and so may
// <entity>.rows and <entity>.by_keys (then a first poll learns the checksums with the
// rows). The summary must cover exactly the rows versions returns for the same window.
type Summarizer interface {
	// HasSummary reports whether the entity's days can be summarized.
	HasSummary(entity string) bool
	// Summaries streams the day summaries of entity inside w.
	Summaries(ctx context.Context, entity string, w Window, fn func(Bucket) error) error
	// ScanChecksums is ScanVersions with each row's checksum (ok is false when the
	// statement returns none for the row).
	ScanChecksums(ctx context.Context, entity string, w Window, fn func(key []byte, version uint64, checksum uint32, ok bool) error) error
}

var _ Summarizer = (*Source)(nil)

// summaryContract is what every <entity>.summary statement returns.
var summaryContract = []column{
	{name: "bucket", kind: kindDate, required: true},
	{name: "row_count", kind: kindInt, required: true},
	{name: "checksum", kind: kindInt},
}

// summaryTableContract is what <entity>.summary returns for an entity without a
// window (patients): one row, the whole table's count and checksum.
var summaryTableContract = []column{
	{name: "row_count", kind: kindInt, required: true},
	{name: "checksum", kind: kindInt},
}

// HasSummary reports whether the profile declares <entity>.summary (with
// <entity>.versions) for the dialect. A windowed entity's summary has a row per day;
// another's (patients) is one row for the whole table.
func (s *Source) HasSummary(entity string) bool {
	_, ok := s.p.stmts[s.dialect][entity+".summary"]
	return ok && entity != EntitySlot && s.HasVersions(entity)
}

// ScanChecksums streams (key, version, checksum) from <entity>.versions.
func (s *Source) ScanChecksums(ctx context.Context, entity string, w Window, fn func(key []byte, version uint64, checksum uint32, ok bool) error) error {
	if rc := s.rowCounter(entity); rc != nil {
		defer rc.flush()
		inner := fn
		fn = func(k []byte, v uint64, c uint32, ok bool) error {
			rc.tick()
			return inner(k, v, c, ok)
		}
	}
	return s.scanVersions(ctx, entity, w, fn)
}

// Summaries runs <entity>.summary for w. A bucket that is not a date is an error
// naming the statement: the engine then reads the entity by keys.
func (s *Source) Summaries(ctx context.Context, entity string, w Window, fn func(Bucket) error) error {
	st, err := s.p.statement(s.dialect, entity+".summary")
	if err != nil {
		return err
	}
	rows, cancel, err := s.query(ctx, st, s.windowParams(w))
	if err != nil {
		return err
	}
	defer cancel()
	defer rows.Close()
	windowed := windowedEntity(entity)
	contract := summaryContract
	if !windowed {
		contract = summaryTableContract
	}
	idx, err := s.columnIndex(st, rows, contract)
	if err != nil {
		return err
	}
	var bucket any
	var count, sum sql.NullString
	dest := make([]any, len(contract))
	if windowed {
		dest[idx[0]], dest[idx[1]], dest[idx[2]] = &bucket, &count, &sum
	} else {
		dest[idx[0]], dest[idx[1]] = &count, &sum
	}
	conv := s.p.entity(entity).converters["date"]
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return s.stmtErr(st, err)
		}
		var b Bucket // the whole table's for an entity without a window
		if windowed {
			if bucket == nil {
				return fmt.Errorf("profile %s: %s (%s line %d): a bucket is NULL; group by a date column that is never NULL inside the window", s.p.Name, st.Name, st.File, st.Line)
			}
			d, err := decodeDate(bucket, conv)
			if err != nil {
				return fmt.Errorf("profile %s: %s (%s line %d): bucket %v: %w", s.p.Name, st.Name, st.File, st.Line, bucket, err)
			}
			b.Day = d
		}
		if b.Rows, err = strconv.ParseInt(strings.TrimSpace(count.String), 10, 64); err != nil {
			return fmt.Errorf("profile %s: %s (%s line %d): row_count %q is not a whole number", s.p.Name, st.Name, st.File, st.Line, count.String)
		}
		if sum.Valid {
			if b.Checksum, err = parseWhole(sum.String); err != nil {
				return fmt.Errorf("profile %s: %s (%s line %d): checksum %q is not a whole number", s.p.Name, st.Name, st.File, st.Line, sum.String)
			}
			b.Valid = true
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.stmtErr(st, err)
	}
	return nil
}

// parseWhole reads an integer the database may render as "12", "12.0" or "1.2E1".
func parseWhole(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<53 {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return int64(f), nil
}

// checksumScanner receives a row's checksum: a whole number from 0 to 2^32-1, else
// "none" (ok false), which leaves the row's bucket to be scanned by keys.
type checksumScanner struct {
	value uint32
	ok    bool
}

func (c *checksumScanner) Scan(src any) error {
	c.value, c.ok = 0, false
	var n int64
	switch x := src.(type) {
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) || x < 0 || x > math.MaxUint32 {
			return nil
		}
		n = int64(x)
	case []byte:
		v, err := parseWhole(string(x))
		if err != nil {
			return nil
		}
		n = v
	case string:
		v, err := parseWhole(x)
		if err != nil {
			return nil
		}
		n = v
	default:
		return nil
	}
	if n < 0 || n > math.MaxUint32 {
		return nil
	}
	c.value, c.ok = uint32(n), true
	return nil
}

// ChangedRow is one row of <entity>.changed.
type ChangedRow struct {
	Key         []byte // valid during the callback only
	Version     uint64 // the version token (VersionToken)
	Checksum    uint32
	HasChecksum bool
	Day         convert.Date
}

// ChangeScanner is implemented by readers whose profile declares <entity>.changed
// beside <entity>.summary: the rows of the window whose version is at or after a
// moment, found through an index on the version column, with the same key, version,
// checksum and day the other statements give. A poll whose day summaries moved
// explains them with those rows first and scans by keys only the days they do not
// explain (a deletion, or a change the statement missed): the statement makes a poll
// cheaper, never more trusting.
type ChangeScanner interface {
	HasChanged(entity string) bool
	ScanChanged(ctx context.Context, entity string, w Window, since time.Time, fn func(ChangedRow) error) error
}

var _ ChangeScanner = (*Source)(nil)

// changedContract is what every <entity>.changed statement returns.
var changedContract = []column{
	{name: "id", kind: kindKey, required: true},
	{name: "version", kind: kindText, required: true},
	{name: "checksum", kind: kindInt},
	{name: "bucket", kind: kindDate, required: true},
}

// HasChanged reports whether the profile declares <entity>.changed for the dialect
// (it is used only with the entity's summary).
func (s *Source) HasChanged(entity string) bool {
	_, ok := s.p.stmts[s.dialect][entity+".changed"]
	return ok && s.HasSummary(entity)
}

// ScanChanged streams <entity>.changed for w and since. A row without a key or a
// bucket is left out: its day does not match and is scanned by keys.
func (s *Source) ScanChanged(ctx context.Context, entity string, w Window, since time.Time, fn func(ChangedRow) error) error {
	st, err := s.p.statement(s.dialect, entity+".changed")
	if err != nil {
		return err
	}
	rows, cancel, err := s.query(ctx, st, SinceParams(s.opt.Zone, w, since))
	if err != nil {
		return err
	}
	defer cancel()
	defer rows.Close()
	idx, _, _, ncols, err := s.columnIndexVersion(st, rows, changedContract, false)
	if err != nil {
		return err
	}
	var key sql.RawBytes
	var ver versionScanner
	var sum checksumScanner
	var bucket any
	var discard any
	dest := make([]any, ncols)
	dest[idx[0]], dest[idx[1]], dest[idx[3]] = &key, &ver, &bucket
	if idx[2] >= 0 {
		dest[idx[2]] = &sum
	}
	for i := range dest {
		if dest[i] == nil {
			dest[i] = &discard
		}
	}
	conv := s.p.entity(entity).converters["date"]
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return s.stmtErr(st, err)
		}
		if key == nil || bucket == nil {
			continue
		}
		d, err := decodeDate(bucket, conv)
		if err != nil {
			continue
		}
		if err := fn(ChangedRow{Key: key, Version: ver.token, Checksum: sum.value, HasChecksum: sum.ok, Day: d}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.stmtErr(st, err)
	}
	return nil
}
