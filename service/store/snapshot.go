package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Entry is the snapshot of one record: what the differ compares against.
type Entry struct {
	FP   uint64 // fingerprint of the canonical record
	Ver  uint64 // hash of the MIS version value; 0 when the profile has none
	At   int64  // windowed records: start instant, unix seconds; else 0
	Seen bool   // set by the differ during a poll
}

// Snapshot is the entity's snapshot in memory: a key index into a flat entry slice,
// which keeps a million entries at a few tens of megabytes.
type Snapshot struct {
	Entity  string
	index   map[string]int32
	Keys    []string
	Entries []Entry
}

// Len is the number of records in the snapshot.
func (s *Snapshot) Len() int { return len(s.Entries) }

// Get returns a pointer to the entry for key, or nil.
func (s *Snapshot) Get(key string) *Entry {
	i, ok := s.index[key]
	if !ok {
		return nil
	}
	return &s.Entries[i]
}

// LoadSnapshot reads an entity's snapshot.
func (s *Store) LoadSnapshot(ctx context.Context, entity string) (*Snapshot, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM snapshot WHERE entity = ?`, entity).Scan(&n); err != nil {
		return nil, fmt.Errorf("state store: count %s snapshot: %w", entity, err)
	}
	snap := &Snapshot{Entity: entity, index: make(map[string]int32, n), Keys: make([]string, 0, n), Entries: make([]Entry, 0, n)}
	rows, err := s.db.QueryContext(ctx, `SELECT key, fp, ver, at FROM snapshot WHERE entity = ?`, entity)
	if err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var fp, ver, at int64
		if err := rows.Scan(&key, &fp, &ver, &at); err != nil {
			return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
		}
		snap.index[key] = int32(len(snap.Entries))
		snap.Keys = append(snap.Keys, key)
		snap.Entries = append(snap.Entries, Entry{FP: uint64(fp), Ver: uint64(ver), At: at})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	return snap, nil
}

// SnapshotCount returns the number of records of an entity in the snapshot.
func (s *Store) SnapshotCount(ctx context.Context, entity string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM snapshot WHERE entity = ?`, entity).Scan(&n)
	return n, err
}

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
	Events   []OutEvent
	// Held replaces the entity's held deletions (the guard's alert); nil leaves them.
	Held     []string
	HeldSet  bool
	Released []string          // held deletions now emitted or no longer missing
	Meta     map[string]string // meta values written in the same transaction
}

// Empty reports whether the change would write nothing.
func (c *Change) Empty() bool {
	return len(c.Puts) == 0 && len(c.Removes) == 0 && len(c.Events) == 0 && !c.HeldSet && len(c.Released) == 0 && len(c.Meta) == 0
}

// Commit applies a change atomically: snapshot and outbox move together
// (DESIGN.md invariant 2). A newer event for a record whose older event is still
// queued for the same connector replaces it (invariant 4).
func (s *Store) Commit(ctx context.Context, c *Change) error {
	if c.Empty() {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state store: begin %s commit: %w", c.Entity, err)
	}
	defer tx.Rollback()
	if len(c.Puts) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO snapshot(entity, key, fp, ver, at) VALUES(?, ?, ?, ?, ?)
ON CONFLICT(entity, key) DO UPDATE SET fp = excluded.fp, ver = excluded.ver, at = excluded.at`)
		if err != nil {
			return fmt.Errorf("state store: %s snapshot: %w", c.Entity, err)
		}
		var recSt *sql.Stmt
		if c.KeepData {
			recSt, err = tx.PrepareContext(ctx, `INSERT INTO records(entity, key, data) VALUES(?, ?, ?) ON CONFLICT(entity, key) DO UPDATE SET data = excluded.data`)
			if err != nil {
				return fmt.Errorf("state store: %s records: %w", c.Entity, err)
			}
		}
		for _, p := range c.Puts {
			if _, err := st.ExecContext(ctx, c.Entity, p.Key, int64(p.FP), int64(p.Ver), p.At); err != nil {
				return fmt.Errorf("state store: write %s %s: %w", c.Entity, p.Key, err)
			}
			if recSt != nil && p.Data != nil {
				if _, err := recSt.ExecContext(ctx, c.Entity, p.Key, p.Data); err != nil {
					return fmt.Errorf("state store: write %s %s data: %w", c.Entity, p.Key, err)
				}
			}
		}
	}
	if len(c.Removes) > 0 {
		st, err := tx.PrepareContext(ctx, `DELETE FROM snapshot WHERE entity = ? AND key = ?`)
		if err != nil {
			return fmt.Errorf("state store: %s snapshot: %w", c.Entity, err)
		}
		rd, err := tx.PrepareContext(ctx, `DELETE FROM records WHERE entity = ? AND key = ?`)
		if err != nil {
			return fmt.Errorf("state store: %s records: %w", c.Entity, err)
		}
		for _, k := range c.Removes {
			if _, err := st.ExecContext(ctx, c.Entity, k); err != nil {
				return fmt.Errorf("state store: remove %s %s: %w", c.Entity, k, err)
			}
			if _, err := rd.ExecContext(ctx, c.Entity, k); err != nil {
				return fmt.Errorf("state store: remove %s %s data: %w", c.Entity, k, err)
			}
		}
	}
	if len(c.Events) > 0 {
		// Coalescing: a queued event for the same record is replaced in place (it
		// keeps its queue position; per-record order is what matters). The
		// dispatcher acknowledges by (seq, idem), so an event replaced while its
		// predecessor was in flight is never lost.
		st, err := tx.PrepareContext(ctx, `INSERT INTO outbox(connector, entity, key, op, idem, fp, at, data) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(connector, entity, key) DO UPDATE SET op = excluded.op, idem = excluded.idem, fp = excluded.fp,
  at = excluded.at, data = excluded.data, attempts = 0, next_at = 0, last_error = ''`)
		if err != nil {
			return fmt.Errorf("state store: outbox: %w", err)
		}
		for _, e := range c.Events {
			if _, err := st.ExecContext(ctx, e.Connector, e.Entity, e.Key, e.Op, e.Idem, e.Fingerprint, rfc3339(e.At), e.Data); err != nil {
				return fmt.Errorf("state store: enqueue %s %s for %s: %w", e.Entity, e.Key, e.Connector, err)
			}
		}
	}
	now := rfc3339(time.Now())
	if c.HeldSet {
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_deletions WHERE entity = ? AND confirmed = 0`, c.Entity); err != nil {
			return fmt.Errorf("state store: held deletions: %w", err)
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO held_deletions(entity, key, held_at) VALUES(?, ?, ?) ON CONFLICT(entity, key) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("state store: held deletions: %w", err)
		}
		for _, k := range c.Held {
			if _, err := st.ExecContext(ctx, c.Entity, k, now); err != nil {
				return fmt.Errorf("state store: hold %s %s: %w", c.Entity, k, err)
			}
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
	return nil
}
