package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Put is a snapshot row to write.
type Put struct {
	Key string
	Entry
	Data []byte // kept in the records table when the entity's data is kept
}

// OutEvent is an event to enqueue for one connector.
type OutEvent struct {
	Connector   string
	Entity      string
	Key         string
	Op          string
	Idem        string
	Fingerprint string
	At          time.Time
	Data        []byte
}

// Change is everything one entity's poll commits: snapshot rows written and removed,
// and the events they imply, in one transaction.
type Change struct {
	Entity   string
	Puts     []Put
	Removes  []string // keys dropped from the snapshot (deleted, or left the window)
	KeepData bool     // maintain the records table for this entity
	// Kept are the data of unchanged records written to the records table only (with
	// KeepData): a connector that keeps data, added to an installation that has been
	// syncing, needs them although the snapshot already has them.
	Kept   []Put
	Events []OutEvent
	// Held replaces the entity's held deletions (the guard's alert); nil leaves them.
	Held    []string
	HeldSet bool
	// HeldFlips are the derived records' guarded changes held (kind "flip"), written
	// with Held when HeldSet.
	HeldFlips []string
	Released  []string          // held deletions now emitted or no longer missing
	Meta      map[string]string // meta values written in the same transaction
	// Summarize, when set, computes the snapshot's summary after the change is
	// applied; it is stored in the same transaction (LoadSummary reads it). A commit
	// that writes the snapshot without Summarize, or whose Summarize returns nil,
	// drops the stored summary, which no longer describes it.
	Summarize func(*Snapshot) []byte
	// Batch, when set, queues each connector's events as batch rows of at most
	// Batch[connector] events (batch.go) while nothing else of the entity is queued
	// for it; Poll names the poll, whose batch rows hold distinct records. Set for the
	// chunks of a big read.
	Batch map[string]int
	Poll  string
}

// Empty reports whether the change would write nothing.
func (c *Change) Empty() bool {
	return len(c.Puts) == 0 && len(c.Kept) == 0 && len(c.Removes) == 0 && len(c.Events) == 0 && !c.HeldSet && len(c.Released) == 0 && len(c.Meta) == 0 && c.Summarize == nil
}

// Commit applies a change atomically: snapshot and outbox move together
// (DESIGN.md invariant 2). A newer event for a record whose older event is still
// queued for the same connector replaces it (invariant 4).
//
// snap is the snapshot the change was computed from (the differ's); it is updated in
// place. Nil loads it. Commit is Prepare, then Write.
func (s *Store) Commit(ctx context.Context, snap *Snapshot, c *Change) (err error) {
	if c.Empty() {
		return nil
	}
	if snap == nil && (len(c.Puts) > 0 || len(c.Removes) > 0 || c.Summarize != nil) {
		// Before the transaction: the store has one connection.
		if snap, err = s.LoadSnapshot(ctx, c.Entity); err != nil {
			return Explain(err)
		}
	}
	return s.Write(ctx, Prepare(snap, c))
}

// Prepared is a change whose part in memory is done: applied to its snapshot, with
// the snapshot's new log pages and summary encoded. Write stores it. Between the two
// the snapshot may be read and changed again — a big read prepares its next chunk
// while the previous one is written — unless Sync says the write still reads it.
type Prepared struct {
	c         *Change
	snap      *snapshotWrite
	sum       []byte
	storesSum bool
}

// Prepare applies c to snap and encodes what Write will store. snap must be the
// entity's snapshot when c has puts, removes or Summarize (Commit loads it); it may
// be nil otherwise.
func Prepare(snap *Snapshot, c *Change) *Prepared {
	p := &Prepared{c: c}
	if c.Empty() {
		return p
	}
	if snap != nil && (len(c.Puts) > 0 || len(c.Removes) > 0) {
		p.snap = snap.prepareWrite(c)
	}
	p.sum, p.storesSum = summaryOf(snap, c)
	return p
}

// Sync reports whether Write reads the snapshot (a rewrite of its whole log): then
// nothing may touch the snapshot until Write returns.
func (p *Prepared) Sync() bool { return p.snap != nil && p.snap.rewrite }

// Write stores a prepared change in one transaction.
func (s *Store) Write(ctx context.Context, p *Prepared) (err error) {
	defer func() { err = Explain(err) }() // a full disk or a damaged file says what to do
	c := p.c
	if c.Empty() {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state store: begin %s commit: %w", c.Entity, err)
	}
	defer tx.Rollback()
	if p.snap != nil {
		if err := p.snap.exec(ctx, tx); err != nil {
			return fmt.Errorf("state store: %s snapshot: %w", c.Entity, err)
		}
	}
	if p.storesSum {
		if err := writeSummary(ctx, tx, c.Entity, p.sum); err != nil {
			return fmt.Errorf("state store: %s snapshot summary: %w", c.Entity, err)
		}
	}
	if c.KeepData && len(c.Puts)+len(c.Kept) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO records(entity, key, data) VALUES(?, ?, ?) ON CONFLICT(entity, key) DO UPDATE SET data = excluded.data`)
		if err != nil {
			return fmt.Errorf("state store: %s records: %w", c.Entity, err)
		}
		for _, p := range append(c.Puts[:len(c.Puts):len(c.Puts)], c.Kept...) {
			if p.Data == nil {
				continue
			}
			if _, err := st.ExecContext(ctx, c.Entity, p.Key, p.Data); err != nil {
				return fmt.Errorf("state store: write %s %s data: %w", c.Entity, p.Key, err)
			}
		}
	}
	if len(c.Removes) > 0 {
		rd, err := tx.PrepareContext(ctx, `DELETE FROM records WHERE entity = ? AND key = ?`)
		if err != nil {
			return fmt.Errorf("state store: %s records: %w", c.Entity, err)
		}
		for _, k := range c.Removes {
			if _, err := rd.ExecContext(ctx, c.Entity, k); err != nil {
				return fmt.Errorf("state store: remove %s %s data: %w", c.Entity, k, err)
			}
		}
	}
	if err := queueEvents(ctx, tx, c); err != nil {
		return err
	}
	now := rfc3339(time.Now())
	if c.HeldSet {
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_deletions WHERE entity = ? AND confirmed = 0`, c.Entity); err != nil {
			return fmt.Errorf("state store: held deletions: %w", err)
		}
		if err := holdKeys(ctx, tx, c.Entity, HeldDelete, c.Held, now); err != nil {
			return err
		}
		if err := holdKeys(ctx, tx, c.Entity, HeldFlip, c.HeldFlips, now); err != nil {
			return err
		}
	}
	for _, k := range c.Released {
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_deletions WHERE entity = ? AND key = ?`, c.Entity, k); err != nil {
			return fmt.Errorf("state store: release %s %s: %w", c.Entity, k, err)
		}
	}
	for k, v := range c.Meta {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
			return fmt.Errorf("state store: meta %s: %w", k, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state store: commit %s: %w", c.Entity, err)
	}
	if len(c.Puts)+len(c.Events) >= checkpointAfter {
		// Between the chunks of a big read: the write-ahead log goes back into the
		// file and is cut, so it never grows past one chunk.
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return fmt.Errorf("state store: checkpoint after %s commit: %w", c.Entity, err)
		}
	}
	return nil
}

// checkpointAfter is the size of a change (snapshot entries and events) after which
// Commit checkpoints the write-ahead log and cuts it: the chunks of a first poll's
// read (10,000 records and their events). Smaller commits — a summary poll's chunks of
// 2,000 changed rows among them — leave it to SQLite's automatic checkpoint (every
// 1,000 pages of log), which does not cut the file.
const checkpointAfter = 10000

// eventsPerInsert is how many events one INSERT statement carries (8 parameters each,
// well under SQLite's limit of 32766).
const eventsPerInsert = 256

// insertEvents enqueues events, eventsPerInsert rows per statement.
//
// Coalescing: a queued event for the same record is replaced in place (it keeps its
// queue position; per-record order is what matters). The dispatcher acknowledges by
// (seq, idem), so an event replaced while its predecessor was in flight is never lost.
func insertEvents(ctx context.Context, tx *sql.Tx, events []OutEvent) error {
	var full *sql.Stmt
	args := make([]any, 0, 8*eventsPerInsert)
	for start := 0; start < len(events); start += eventsPerInsert {
		part := events[start:min(start+eventsPerInsert, len(events))]
		args = args[:0]
		for _, e := range part {
			args = append(args, e.Connector, e.Entity, e.Key, e.Op, e.Idem, e.Fingerprint, rfc3339(e.At), e.Data)
		}
		var err error
		if len(part) == eventsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertEventsSQL(eventsPerInsert)); err != nil {
					return fmt.Errorf("state store: outbox: %w", err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertEventsSQL(len(part)), args...)
		}
		if err != nil {
			return fmt.Errorf("state store: enqueue %d %s events from %s for %s: %w", len(part), part[0].Entity, part[0].Key, part[0].Connector, err)
		}
	}
	return nil
}

func insertEventsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO outbox(connector, entity, key, op, idem, fp, at, data) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	b.WriteString(`
ON CONFLICT(connector, entity, key) DO UPDATE SET op = excluded.op, idem = excluded.idem, fp = excluded.fp,
  at = excluded.at, data = excluded.data, attempts = 0, next_at = 0, last_error = ''`)
	return b.String()
}
