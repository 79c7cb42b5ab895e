package mapping

import (
	"context"
	"strconv"
	"time"
)

// Window is the span of days a poll reads windowed entities (shifts, appointments,
// slots) in: From inclusive, To exclusive, both at local midnight in the service zone.
type Window struct {
	From, To time.Time
}

// Contains reports whether t falls inside the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

// Item is one record read from the MIS.
type Item struct {
	Record Record
	// Version is the row's version token (see VersionToken) when the statement reads
	// it in the same query (a column aliased AS version), else 0.
	Version uint64
	// Checksum is the row's summand in its bucket's summary (see Summarizer), when
	// the statement returns a column named checksum (HasChecksum).
	Checksum    uint32
	HasChecksum bool
}

// Skip describes a row that was read but could not be turned into a record. The row is
// left out of this poll (and never counts as deleted); the poll goes on.
type Skip struct {
	Entity  string
	Key     string // the row's key when it could be read, else ""
	Row     int    // 1-based row number in the statement's result
	Problem string // e.g. "birth_date: OLE day 0 is not a date"
}

func (s Skip) String() string {
	k := s.Key
	if k == "" {
		k = "?"
	}
	return s.Entity + " " + k + " (row " + strconv.Itoa(s.Row) + "): " + s.Problem
}

// Reader reads canonical records from a MIS through a profile. Every method streams:
// it never holds a whole result set in memory. Any error return means the read did not
// finish and the engine must not infer deletions from it.
type Reader interface {
	// Windowed reports whether the entity is limited to the poll window.
	Windowed(entity string) bool
	// HasVersions reports whether the profile declares a version column for entity,
	// so that ScanVersions and ReadKeys can be used instead of a full read.
	HasVersions(entity string) bool
	// ScanVersions streams (key, version) pairs of entity (inside w when windowed).
	// It is the hot path of every poll, so it allocates nothing per row: key is valid
	// only during the call (copy it to keep it), and the version is a 64-bit token
	// (see VersionToken) — equal tokens mean the row did not change; 0 (a NULL
	// version) means "unknown": the row is read in full every poll.
	ScanVersions(ctx context.Context, entity string, w Window, fn func(key []byte, version uint64) error) error
	// RowVersions reports whether full reads carry each row's version in Item.Version,
	// so that a full read needs no separate ScanVersions first.
	RowVersions(entity string) bool
	// ReadAll streams full records of entity (inside w when windowed).
	ReadAll(ctx context.Context, entity string, w Window, fn func(Item) error, skip func(Skip)) error
	// ReadKeys streams full records for the given keys, whether inside the window or
	// not; keys that no longer exist are simply absent.
	ReadKeys(ctx context.Context, entity string, keys []string, fn func(Item) error, skip func(Skip)) error
}
