package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"medsync/connectors"
)

// Due returns up to limit events for a connector whose next attempt is due at now,
// oldest first.
func (s *Store) Due(ctx context.Context, connector string, now time.Time, limit int) ([]connectors.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, entity, key, op, idem, fp, at, data, attempts, events FROM outbox
WHERE connector = ? AND next_at <= ? ORDER BY seq LIMIT ?`, connector, now.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("state store: read %s outbox: %w", connector, err)
	}
	defer rows.Close()
	var out []connectors.Event
	for rows.Next() {
		var e connectors.Event
		var at string
		var data []byte
		var n int
		if err := rows.Scan(&e.Seq, &e.Entity, &e.Key, &e.Op, &e.IdempotencyKey, &e.Fingerprint, &at, &data, &e.Attempt, &n); err != nil {
			return nil, fmt.Errorf("state store: read %s outbox: %w", connector, err)
		}
		if len(out) > 0 && len(out)+n > limit {
			break // a batch row goes out whole, in a batch of its own if need be
		}
		e.At, _ = time.Parse(time.RFC3339, at)
		e.Attempt++
		if e.Op == opBatch {
			evs, err := decodeBatch(data)
			if err != nil {
				return nil, fmt.Errorf("state store: read %s outbox row %d: %w", connector, e.Seq, err)
			}
			for _, b := range evs {
				out = append(out, connectors.Event{Seq: e.Seq, Entity: e.Entity, Key: b.key, Op: b.op, IdempotencyKey: b.idem,
					Fingerprint: b.fp, At: e.At, Data: json.RawMessage(b.data), Attempt: e.Attempt})
			}
			continue
		}
		if len(data) > 0 {
			e.Data = json.RawMessage(data)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// NextDue returns when the connector's earliest queued event is due (zero time when
// nothing is queued).
func (s *Store) NextDue(ctx context.Context, connector string) (time.Time, error) {
	var n sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(next_at) FROM outbox WHERE connector = ?`, connector).Scan(&n); err != nil {
		return time.Time{}, err
	}
	if !n.Valid {
		return time.Time{}, nil
	}
	return time.Unix(n.Int64, 0), nil
}

// Outcome is what became of one delivered event.
type Outcome struct {
	Seq  int64
	Idem string
	// Entity and Key name the event's record: an acknowledged event whose row was
	// turned into a single row while it was delivered is found by them
	// (deleteExploded).
	Entity, Key string
	Result      int       // OutcomeAcked, OutcomeRetry or OutcomeDead
	Next        time.Time // OutcomeRetry: when to try again
	Reason      string    // OutcomeRetry, OutcomeDead: the error, for the operator
}

// Outcome results.
const (
	OutcomeAcked = iota
	OutcomeRetry
	OutcomeDead
)

// Record applies the outcomes of one delivery batch in one transaction. Every
// statement is keyed by (seq, idempotency key): when a newer event replaced one while
// it was in flight, the newer one stays queued untouched. Acknowledged events — nearly
// all of them — leave the outbox in one statement per batch.
func (s *Store) Record(ctx context.Context, connector string, outs []Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if outs, err = recordBatches(ctx, tx, connector, outs); err != nil {
		return fmt.Errorf("state store: record delivery of %s: %w", connector, err)
	}
	var acked, delivered []Outcome // acked: leave the outbox; delivered: acknowledged by the peer
	var retry, dead *sql.Stmt
	now := rfc3339(time.Now())
	for _, o := range outs {
		switch o.Result {
		case OutcomeAcked:
			acked, delivered = append(acked, o), append(delivered, o)
		case OutcomeRetry:
			if retry == nil {
				if retry, err = tx.PrepareContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ? AND idem = ?`); err != nil {
					return err
				}
			}
			_, err = retry.ExecContext(ctx, o.Next.Unix(), o.Reason, o.Seq, o.Idem)
		case OutcomeDead:
			if dead == nil {
				if dead, err = tx.PrepareContext(ctx, `INSERT INTO dead_letters(connector, entity, key, op, idem, fp, at, data, attempts, reason, failed_at)
SELECT connector, entity, key, op, idem, fp, at, data, attempts + 1, ?, ? FROM outbox WHERE seq = ? AND idem = ?`); err != nil {
					return err
				}
			}
			if _, err = dead.ExecContext(ctx, o.Reason, now, o.Seq, o.Idem); err == nil {
				acked = append(acked, o) // leaves the outbox with the acknowledged
			}
		}
		if err != nil {
			return fmt.Errorf("state store: record delivery of %s seq %d: %w", connector, o.Seq, err)
		}
	}
	n, err := deleteDelivered(ctx, tx, acked)
	if err == nil && n < len(acked) {
		err = deleteExploded(ctx, tx, connector, delivered)
	}
	if err != nil {
		return fmt.Errorf("state store: record delivery of %s: %w", connector, err)
	}
	return tx.Commit()
}

// deleteDelivered removes the given events from the outbox, each only while it still
// has the delivered idempotency key: a row whose seq is among the delivered and whose
// idempotency key is among theirs. That is the pairs themselves, since the outbox
// holds one row per record and connector (outbox_record) and an idempotency key names
// the record: the key a replaced row took can belong to no other event of the batch.
// Plain parameter lists, acksPerDelete pairs a statement (cheaper for SQLite than
// joining a JSON array).
func deleteDelivered(ctx context.Context, tx *sql.Tx, outs []Outcome) (deleted int, err error) {
	for start := 0; start < len(outs); start += acksPerDelete {
		part := outs[start:min(start+acksPerDelete, len(outs))]
		var q strings.Builder
		args := make([]any, 0, 2*len(part))
		q.WriteString(`DELETE FROM outbox WHERE seq IN (`)
		for i, o := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
			args = append(args, o.Seq)
		}
		q.WriteString(`) AND idem IN (`)
		for i, o := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
			args = append(args, o.Idem)
		}
		q.WriteString(`)`)
		res, err := tx.ExecContext(ctx, q.String(), args...)
		if err != nil {
			return deleted, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, err
		}
		deleted += int(n)
	}
	return deleted, nil
}

// acksPerDelete is how many events one DELETE acknowledges (two parameters each).
const acksPerDelete = 500

// QueueStats is a connector's queue at a glance.
type QueueStats struct {
	Connector   string
	Queued      int
	Retrying    int // queued events that failed at least once
	DeadLetters int
	LastError   string
}

// Queues returns queue statistics for the given connectors.
func (s *Store) Queues(ctx context.Context, names []string) ([]QueueStats, error) {
	out := make([]QueueStats, 0, len(names))
	for _, n := range names {
		q := QueueStats{Connector: n}
		if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(events), 0), coalesce(sum(CASE WHEN attempts > 0 THEN events ELSE 0 END), 0) FROM outbox WHERE connector = ?`, n).Scan(&q.Queued, &q.Retrying); err != nil {
			return nil, err
		}
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM dead_letters WHERE connector = ?`, n).Scan(&q.DeadLetters); err != nil {
			return nil, err
		}
		err := s.db.QueryRowContext(ctx, `SELECT last_error FROM outbox WHERE connector = ? AND last_error <> '' ORDER BY seq DESC LIMIT 1`, n).Scan(&q.LastError)
		if err == sql.ErrNoRows {
			err = s.db.QueryRowContext(ctx, `SELECT reason FROM dead_letters WHERE connector = ? ORDER BY id DESC LIMIT 1`, n).Scan(&q.LastError)
		}
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// DeadLetterRow is one dead letter (the payload is not included).
type DeadLetterRow struct {
	ID        int64
	Connector string
	Entity    string
	Key       string
	Op        string
	Attempts  int
	Reason    string
	FailedAt  string
}

// DeadLetters lists dead letters, optionally for one connector ("" for all).
func (s *Store) DeadLetters(ctx context.Context, connector string) ([]DeadLetterRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, connector, entity, key, op, attempts, reason, failed_at FROM dead_letters
WHERE ? = '' OR connector = ? ORDER BY id`, connector, connector)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeadLetterRow
	for rows.Next() {
		var d DeadLetterRow
		if err := rows.Scan(&d.ID, &d.Connector, &d.Entity, &d.Key, &d.Op, &d.Attempts, &d.Reason, &d.FailedAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ReplayResult says what Replay did.
type ReplayResult struct {
	Requeued   int // back in the outbox
	Superseded int // dropped: the record changed since, and its newer state was or will be sent
}

// Replay puts dead letters back into the outbox (ids empty = all of the connector, or
// all when connector is ""). Only a dead letter that is still the record's current
// state is sent again: an upsert whose fingerprint is the snapshot's, a delete of a
// record no longer in the snapshot. An older one is dropped — replaying it would undo
// a newer change the peer already has (per-record order, DESIGN.md invariant 4). A
// record that has a newer queued event keeps the newer one.
func (s *Store) Replay(ctx context.Context, connector string, ids []int64) (ReplayResult, error) {
	var res ReplayResult
	type dl struct {
		id                         int64
		connector, entity, key, op string
		fp                         string
	}
	var all []dl
	err := func() error {
		rows, err := s.db.QueryContext(ctx, `SELECT id, connector, entity, key, op, fp FROM dead_letters WHERE (? = '' OR connector = ?) ORDER BY id`, connector, connector)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d dl
			if err := rows.Scan(&d.id, &d.connector, &d.entity, &d.key, &d.op, &d.fp); err != nil {
				return err
			}
			all = append(all, d)
		}
		return rows.Err()
	}()
	if err != nil {
		return res, err
	}
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	snaps := map[string]*Snapshot{}
	current := func(d dl) (bool, error) {
		snap, ok := snaps[d.entity]
		if !ok {
			var err error
			if snap, err = s.LoadSnapshot(ctx, d.entity); err != nil {
				return false, err
			}
			snaps[d.entity] = snap
		}
		e := snap.Get(d.key)
		if d.op == connectors.OpDelete {
			return e == nil, nil
		}
		return e != nil && fmt.Sprintf("%016x", e.FP) == d.fp, nil
	}
	// Decide before the transaction: the store has one connection.
	keep := map[int64]bool{}
	for _, d := range all {
		if len(ids) > 0 && !want[d.id] {
			continue
		}
		ok, err := current(d)
		if err != nil {
			return res, err
		}
		keep[d.id] = ok
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	exploded := map[[2]string]bool{}
	for _, d := range all {
		ok, chosen := keep[d.id]
		if !chosen {
			continue
		}
		if ok {
			// A batch row may hold the record's newer event: as single rows, the
			// newer one is kept.
			if k := [2]string{d.connector, d.entity}; !exploded[k] {
				if err := explodeBatches(ctx, tx, d.connector, d.entity, ""); err != nil {
					return res, err
				}
				exploded[k] = true
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(connector, entity, key, op, idem, fp, at, data)
SELECT connector, entity, key, op, idem, fp, at, data FROM dead_letters WHERE id = ?
ON CONFLICT(connector, entity, key) DO NOTHING`, d.id); err != nil {
				return res, fmt.Errorf("state store: replay dead letter %d: %w", d.id, err)
			}
			res.Requeued++
		} else {
			res.Superseded++
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE id = ?`, d.id); err != nil {
			return res, err
		}
	}
	return res, tx.Commit()
}

// Kinds of held rows.
const (
	HeldDelete = "delete" // a deletion held by the mass-disappearance guard
	HeldFlip   = "flip"   // a derived record's guarded change (a slot turning free)
)

// Held is one deletion (or derived record's change) held by the guard.
type Held struct {
	Entity    string
	Key       string
	HeldAt    string
	Confirmed bool
	Kind      string // HeldDelete or HeldFlip
}

// HeldDeletions lists held deletions and held changes of derived records.
func (s *Store) HeldDeletions(ctx context.Context) ([]Held, error) {
	return s.held(ctx, "")
}

// HeldOf lists the held rows of one entity.
func (s *Store) HeldOf(ctx context.Context, entity string) ([]Held, error) {
	if entity == "" {
		return nil, nil
	}
	return s.held(ctx, entity)
}

func (s *Store) held(ctx context.Context, entity string) ([]Held, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT entity, key, held_at, confirmed, kind FROM held_deletions
WHERE ? = '' OR entity = ? ORDER BY entity, kind, key`, entity, entity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Held
	for rows.Next() {
		var h Held
		if err := rows.Scan(&h.Entity, &h.Key, &h.HeldAt, &h.Confirmed, &h.Kind); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// holdKeys writes held rows of one kind (inside a commit).
func holdKeys(ctx context.Context, tx *sql.Tx, entity, kind string, keys []string, now string) error {
	if len(keys) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO held_deletions(entity, key, held_at, kind) VALUES(?, ?, ?, ?)
ON CONFLICT(entity, key) DO UPDATE SET kind = excluded.kind`)
	if err != nil {
		return fmt.Errorf("state store: held deletions: %w", err)
	}
	defer st.Close()
	for _, k := range keys {
		if _, err := st.ExecContext(ctx, entity, k, now, kind); err != nil {
			return fmt.Errorf("state store: hold %s %s: %w", entity, k, err)
		}
	}
	return nil
}

// ConfirmedHeld returns the held rows of an entity an operator has confirmed.
func (s *Store) ConfirmedHeld(ctx context.Context, entity string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key FROM held_deletions WHERE entity = ? AND confirmed = 1`, entity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// ConfirmHeld marks the held rows of the given entities (all when none is given) as
// confirmed by an operator: the next poll sends the deletions still missing and the
// held changes still pending. It returns how many.
func (s *Store) ConfirmHeld(ctx context.Context, entities ...string) (int, error) {
	if len(entities) == 0 || (len(entities) == 1 && entities[0] == "") {
		entities = []string{""}
	}
	n := 0
	for _, entity := range entities {
		res, err := s.db.ExecContext(ctx, `UPDATE held_deletions SET confirmed = 1 WHERE ? = '' OR entity = ?`, entity, entity)
		if err != nil {
			return n, err
		}
		m, _ := res.RowsAffected()
		n += int(m)
	}
	return n, nil
}

// Records streams the kept data of an entity (see connectors.Spec.Keeps).
func (s *Store) Records(ctx context.Context, entity string, fn func(key string, data json.RawMessage) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT key, data FROM records WHERE entity = ? ORDER BY key`, entity)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var d []byte
		if err := rows.Scan(&k, &d); err != nil {
			return err
		}
		if err := fn(k, d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PollRecord is one poll in the history.
type PollRecord struct {
	Started  time.Time
	Duration time.Duration
	OK       bool
	Summary  json.RawMessage
}

// AddPoll appends a poll to the history and prunes entries older than 7 days.
func (s *Store) AddPoll(ctx context.Context, p PollRecord) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO polls(started, duration_ms, ok, summary) VALUES(?, ?, ?, ?)`,
		p.Started.UTC().Format(time.RFC3339), p.Duration.Milliseconds(), p.OK, string(p.Summary)); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM polls WHERE started < ?`, time.Now().Add(-7*24*time.Hour).UTC().Format(time.RFC3339))
	return err
}

// Polls returns the polls started since the given time, oldest first.
func (s *Store) Polls(ctx context.Context, since time.Time) ([]PollRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT started, duration_ms, ok, summary FROM polls WHERE started >= ? ORDER BY id`, since.UTC().Format(time.RFC3339))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PollRecord
	for rows.Next() {
		var p PollRecord
		var st, sum string
		var ms int64
		if err := rows.Scan(&st, &ms, &p.OK, &sum); err != nil {
			return nil, err
		}
		p.Started, _ = time.Parse(time.RFC3339, st)
		p.Duration = time.Duration(ms) * time.Millisecond
		p.Summary = json.RawMessage(sum)
		out = append(out, p)
	}
	return out, rows.Err()
}

// QueuedByConnector counts queued events per connector name, for every connector that
// has any (including connectors no longer in the config).
func (s *Store) QueuedByConnector(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT connector, sum(events) FROM outbox GROUP BY connector`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}

// BaseKey is the meta key recording that a connector was given an entity's full
// current state (a connector without it gets every record once).
func BaseKey(connector, entity string) string { return "base:" + connector + ":" + entity }

// DropQueue discards a connector's queued events and forgets that it was given the
// current state, so that if it comes back it gets everything once again. It returns
// how many events were dropped. Dead letters stay (medsync dlq list shows them).
func (s *Store) DropQueue(ctx context.Context, connector string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(events), 0) FROM outbox WHERE connector = ?`, connector).Scan(&n); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE connector = ?`, connector); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key LIKE ? ESCAPE '\'`, likeEscape(BaseKey(connector, ""))+"%"); err != nil {
		return 0, err
	}
	return int(n), tx.Commit()
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
