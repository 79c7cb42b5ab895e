package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"time"
)

// Entry is the snapshot of one record: what the differ compares against.
type Entry struct {
	FP   uint64 // fingerprint of the canonical record
	Ver  uint64 // hash of the MIS version value; 0 when the profile has none
	At   int64  // windowed records: start instant, unix seconds; else 0
	Seen bool   // set by the differ during a poll
	gone bool   // removed by a commit
	page uint16
}

// Snapshot is the entity's snapshot in memory: a flat entry slice indexed by a 64-bit
// hash of the key (keys whose hash collides with another key's go to a small second
// index), which keeps a million records at a few tens of megabytes and a lookup at one
// integer-keyed map probe. On disk it is kept in pages (a record's page is a hash of
// its key), each one blob, so that loading a million records reads about a thousand
// rows, and a commit rewrites only the pages it touches.
type Snapshot struct {
	Entity  string
	index   map[uint64]int32
	extra   map[string]int32
	Keys    []string
	Entries []Entry
	live    int
}

// seed keys the in-memory index; it never leaves the process.
var seed = maphash.MakeSeed()

func newSnapshot(entity string, n int) *Snapshot {
	return &Snapshot{Entity: entity, index: make(map[uint64]int32, n), Keys: make([]string, 0, n), Entries: make([]Entry, 0, n)}
}

// Len is the number of records in the snapshot.
func (s *Snapshot) Len() int { return s.live }

// Get returns a pointer to the entry for key, or nil.
func (s *Snapshot) Get(key string) *Entry {
	if i, ok := s.index[maphash.String(seed, key)]; ok && s.Keys[i] == key {
		return &s.Entries[i]
	}
	if i, ok := s.extra[key]; ok {
		return &s.Entries[i]
	}
	return nil
}

// GetBytes is Get for a key held in a byte slice, without allocating.
func (s *Snapshot) GetBytes(key []byte) *Entry {
	if i := s.PosBytes(key); i >= 0 {
		return &s.Entries[i]
	}
	return nil
}

// PosBytes is the position of key in Entries (and Keys), or -1.
func (s *Snapshot) PosBytes(key []byte) int {
	if i, ok := s.index[maphash.Bytes(seed, key)]; ok && s.Keys[i] == string(key) {
		return int(i)
	}
	if i, ok := s.extra[string(key)]; ok {
		return int(i)
	}
	return -1
}

// Pos is the position of key in Entries (and Keys), or -1.
func (s *Snapshot) Pos(key string) int {
	if i, ok := s.index[maphash.String(seed, key)]; ok && s.Keys[i] == key {
		return int(i)
	}
	if i, ok := s.extra[key]; ok {
		return int(i)
	}
	return -1
}

func (s *Snapshot) add(key string, e Entry) {
	i := int32(len(s.Entries))
	s.Keys = append(s.Keys, key)
	s.Entries = append(s.Entries, e)
	s.live++
	h := maphash.String(seed, key)
	if _, taken := s.index[h]; !taken {
		s.index[h] = i
		return
	}
	if s.extra == nil {
		s.extra = map[string]int32{}
	}
	s.extra[key] = i
}

func (s *Snapshot) remove(key string) *Entry {
	h := maphash.String(seed, key)
	i, ok := s.index[h]
	if ok && s.Keys[i] == key {
		delete(s.index, h)
	} else if i, ok = s.extra[key]; ok {
		delete(s.extra, key)
	} else {
		return nil
	}
	s.live--
	s.Entries[i].gone = true
	return &s.Entries[i]
}

// Each visits every live entry.
func (s *Snapshot) Each(fn func(key string, e *Entry)) {
	for i := range s.Entries {
		if !s.Entries[i].gone {
			fn(s.Keys[i], &s.Entries[i])
		}
	}
}

// pages is the number of snapshot pages per entity.
const pages = 1024

func pageOf(key string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return uint16(h.Sum32() % pages)
}

// encodePage writes n, then per entry: key length, key, fp, ver, at.
func encodePage(keys []string, entries []*Entry) []byte {
	size := binary.MaxVarintLen64
	for _, k := range keys {
		size += len(k) + 3*binary.MaxVarintLen64
	}
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for i, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint64(b, entries[i].FP)
		b = binary.LittleEndian.AppendUint64(b, entries[i].Ver)
		b = binary.AppendVarint(b, entries[i].At)
	}
	return b
}

var errCorrupt = errors.New("snapshot page is damaged")

// decodePage appends a page's entries to the snapshot. Keys of one page share one
// string allocation.
func (s *Snapshot) decodePage(page uint16, b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return errCorrupt
	}
	b = b[k:]
	type span struct{ off, len int }
	spans := make([]span, 0, n)
	arena := make([]byte, 0, len(b))
	entries := make([]Entry, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l+16 {
			return errCorrupt
		}
		b = b[k:]
		spans = append(spans, span{len(arena), int(l)})
		arena = append(arena, b[:l]...)
		b = b[l:]
		var e Entry
		e.FP = binary.LittleEndian.Uint64(b)
		e.Ver = binary.LittleEndian.Uint64(b[8:])
		b = b[16:]
		at, k2 := binary.Varint(b)
		if k2 <= 0 {
			return errCorrupt
		}
		b = b[k2:]
		e.At = at
		e.page = page
		entries = append(entries, e)
	}
	keys := string(arena)
	for i, sp := range spans {
		s.add(keys[sp.off:sp.off+sp.len], entries[i])
	}
	return nil
}

// LoadSnapshot reads an entity's snapshot. It reads the pages' record counts first,
// to size the index once, then decodes the pages one by one as they stream in.
func (s *Store) LoadSnapshot(ctx context.Context, entity string) (*Snapshot, error) {
	total := 0
	err := func() error {
		rows, err := s.db.QueryContext(ctx, `SELECT substr(data, 1, 10) FROM snapshot_pages WHERE entity = ?`, entity)
		if err != nil {
			return err
		}
		defer rows.Close()
		var head []byte
		for rows.Next() {
			if err := rows.Scan(&head); err != nil {
				return err
			}
			n, _ := binary.Uvarint(head)
			total += int(n)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	snap := newSnapshot(entity, total)
	rows, err := s.db.QueryContext(ctx, `SELECT page, data FROM snapshot_pages WHERE entity = ?`, entity)
	if err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	defer rows.Close()
	var page uint16
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&page, &data); err != nil {
			return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
		}
		if err := snap.decodePage(page, data); err != nil {
			return nil, fmt.Errorf("state store %s: %s snapshot page %d: %w; delete the state store to rebuild it (the next poll resends everything)", s.path, entity, page, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	return snap, nil
}

// SnapshotCount returns the number of records of an entity in the snapshot.
func (s *Store) SnapshotCount(ctx context.Context, entity string) (int, error) {
	snap, err := s.LoadSnapshot(ctx, entity)
	if err != nil {
		return 0, err
	}
	return snap.Len(), nil
}

// apply puts and removes into the in-memory snapshot and returns the pages touched.
func (snap *Snapshot) apply(c *Change) map[uint16]bool {
	dirty := map[uint16]bool{}
	for _, p := range c.Puts {
		if e := snap.Get(p.Key); e != nil {
			e.FP, e.Ver, e.At = p.FP, p.Ver, p.At
			dirty[e.page] = true
			continue
		}
		e := Entry{FP: p.FP, Ver: p.Ver, At: p.At, page: pageOf(p.Key)}
		snap.add(p.Key, e)
		dirty[e.page] = true
	}
	for _, k := range c.Removes {
		if e := snap.remove(k); e != nil {
			dirty[e.page] = true
		}
	}
	return dirty
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

// writePages rewrites the dirty pages of a snapshot.
func (s *Store) writePages(ctx context.Context, tx *sql.Tx, snap *Snapshot, dirty map[uint16]bool) error {
	if len(dirty) == 0 {
		return nil
	}
	keys := map[uint16][]string{}
	ents := map[uint16][]*Entry{}
	snap.Each(func(k string, e *Entry) {
		if dirty[e.page] {
			keys[e.page] = append(keys[e.page], k)
			ents[e.page] = append(ents[e.page], e)
		}
	})
	put, err := tx.PrepareContext(ctx, `INSERT INTO snapshot_pages(entity, page, data) VALUES(?, ?, ?)
ON CONFLICT(entity, page) DO UPDATE SET data = excluded.data`)
	if err != nil {
		return err
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM snapshot_pages WHERE entity = ? AND page = ?`)
	if err != nil {
		return err
	}
	for p := range dirty {
		if len(keys[p]) == 0 {
			_, err = del.ExecContext(ctx, snap.Entity, int(p))
		} else {
			_, err = put.ExecContext(ctx, snap.Entity, int(p), encodePage(keys[p], ents[p]))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Commit applies a change atomically: snapshot and outbox move together
// (DESIGN.md invariant 2). A newer event for a record whose older event is still
// queued for the same connector replaces it (invariant 4).
//
// snap is the snapshot the change was computed from (the differ's); it is updated in
// place. Nil loads it.
func (s *Store) Commit(ctx context.Context, snap *Snapshot, c *Change) (err error) {
	if c.Empty() {
		return nil
	}
	if snap == nil && (len(c.Puts) > 0 || len(c.Removes) > 0) {
		// Before the transaction: the store has one connection.
		if snap, err = s.LoadSnapshot(ctx, c.Entity); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state store: begin %s commit: %w", c.Entity, err)
	}
	defer tx.Rollback()
	if len(c.Puts) > 0 || len(c.Removes) > 0 {
		if err := s.writePages(ctx, tx, snap, snap.apply(c)); err != nil {
			return fmt.Errorf("state store: %s snapshot: %w", c.Entity, err)
		}
	}
	if c.KeepData && len(c.Puts) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO records(entity, key, data) VALUES(?, ?, ?) ON CONFLICT(entity, key) DO UPDATE SET data = excluded.data`)
		if err != nil {
			return fmt.Errorf("state store: %s records: %w", c.Entity, err)
		}
		for _, p := range c.Puts {
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
