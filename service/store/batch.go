package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Batch rows. A big read commits its upserts in chunks of thousands of records; each
// event as an outbox row of its own costs three B-tree insertions, a read and three
// deletions — half the CPU of a first poll of a million appointments. A chunk's
// events for one connector are therefore queued as batch rows instead: one outbox row
// (op "batch") holding up to the connector's batch size of events, written in the
// same transaction as the chunk's snapshot entries (invariant 2) and delivered from
// the outbox as one batch, in queue order, acknowledged by deleting the one row.
//
// One queued event per record (invariant 4) still holds. A batch row is written only
// while nothing of its entity is queued for the connector but batch rows of the same
// poll, whose keys are distinct (a poll sees each record once). A single event queued
// for the entity later — the next poll, a replayed dead letter — first turns the
// entity's batch rows of other polls back into single rows ("explodes" them), so that
// the newer event replaces the older one as always. A batch whose delivery is not
// acknowledged whole is exploded too, with each event's outcome: acknowledged ones
// leave, refused ones retry or become dead letters one by one.

const (
	opBatch = "batch"
	// batchKeyPrefix starts a batch row's key: a control character no record key
	// has (the mapping cleans them out), so batch rows sort first among an entity's
	// queued rows and are found by a range of the outbox_record index.
	batchKeyPrefix = "\x01batch "
	batchKeyEnd    = "\x02"
)

// batchEvent is one event inside a batch row (entity, connector and detection time
// are the row's).
type batchEvent struct {
	key, op, idem, fp string
	data              []byte
}

// encodeBatch packs events as length-prefixed fields.
func encodeBatch(events []OutEvent) []byte {
	n := 0
	for _, e := range events {
		n += len(e.Key) + len(e.Op) + len(e.Idem) + len(e.Fingerprint) + len(e.Data) + 5*binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	for _, e := range events {
		for _, f := range [][]byte{[]byte(e.Key), []byte(e.Op), []byte(e.Idem), []byte(e.Fingerprint), e.Data} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
	}
	return b
}

// decodeBatch unpacks what encodeBatch packed.
func decodeBatch(b []byte) ([]batchEvent, error) {
	var out []batchEvent
	field := func() ([]byte, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return nil, errors.New("damaged batch row")
		}
		f := b[w : w+int(n)]
		b = b[w+int(n):]
		return f, nil
	}
	for len(b) > 0 {
		var fs [5][]byte
		for i := range fs {
			f, err := field()
			if err != nil {
				return nil, err
			}
			fs[i] = f
		}
		ev := batchEvent{key: string(fs[0]), op: string(fs[1]), idem: string(fs[2]), fp: string(fs[3])}
		if len(fs[4]) > 0 {
			ev.data = fs[4]
		}
		out = append(out, ev)
	}
	return out, nil
}

// queueEvents enqueues a commit's events: per connector and entity as batch rows of
// at most c.Batch[connector] events when c asks for them and nothing else of the
// entity is queued for the connector, else as single rows (after exploding the
// entity's batch rows of other polls, so that a newer event replaces an older one).
func queueEvents(ctx context.Context, tx *sql.Tx, c *Change) error {
	type group struct {
		connector, entity string
		events            []OutEvent
	}
	var groups []*group
	if same(c.Events) { // the usual chunk: one connector, one entity, no copies
		groups = []*group{{connector: c.Events[0].Connector, entity: c.Events[0].Entity, events: c.Events}}
	} else {
		byName := map[[2]string]*group{}
		for _, e := range c.Events {
			k := [2]string{e.Connector, e.Entity}
			g := byName[k]
			if g == nil {
				g = &group{connector: e.Connector, entity: e.Entity}
				byName[k] = g
				groups = append(groups, g)
			}
			g.events = append(g.events, e)
		}
	}
	for _, g := range groups {
		if size := c.Batch[g.connector]; size > 0 && c.Poll != "" {
			ok, err := batchable(ctx, tx, g.connector, g.entity, c.Poll)
			if err != nil {
				return err
			}
			if ok {
				if err := insertBatchRows(ctx, tx, g.events, size, c.Poll); err != nil {
					return err
				}
				continue
			}
		}
		if err := explodeBatches(ctx, tx, g.connector, g.entity, c.Poll); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, g.events); err != nil {
			return err
		}
	}
	return nil
}

// same reports whether events are all of one connector and one entity (and there
// is at least one).
func same(events []OutEvent) bool {
	for _, e := range events {
		if e.Connector != events[0].Connector || e.Entity != events[0].Entity {
			return false
		}
	}
	return len(events) > 0
}

// batchable reports whether nothing of entity is queued for connector but batch rows
// of poll.
func batchable(ctx context.Context, tx *sql.Tx, connector, entity, poll string) (bool, error) {
	var other int
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM outbox WHERE connector = ? AND entity = ? AND NOT (op = ? AND idem = ?))`,
		connector, entity, opBatch, poll).Scan(&other); err != nil {
		return false, fmt.Errorf("state store: outbox: %w", err)
	}
	return other == 0, nil
}

// insertBatchRows writes events (one connector, one entity, one detection time) as
// rows of at most size events each.
func insertBatchRows(ctx context.Context, tx *sql.Tx, events []OutEvent, size int, poll string) error {
	for start := 0; start < len(events); start += size {
		part := events[start:min(start+size, len(events))]
		first := part[0]
		// Unique per connector and entity: a poll's records are distinct.
		key := batchKeyPrefix + poll + " " + first.Key
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(connector, entity, key, op, idem, fp, at, data, events) VALUES(?, ?, ?, ?, ?, '', ?, ?, ?)`,
			first.Connector, first.Entity, key, opBatch, poll, rfc3339(first.At), encodeBatch(part), len(part)); err != nil {
			return fmt.Errorf("state store: enqueue %d %s events from %s for %s: %w", len(part), first.Entity, first.Key, first.Connector, err)
		}
	}
	return nil
}

// batchRow is a queued batch row as read back.
type batchRow struct {
	seq               int64
	connector, entity string
	at                string
	attempts          int
	events            []batchEvent
}

// batchRows reads connector's batch rows of entity, except those of poll keep.
func batchRows(ctx context.Context, tx *sql.Tx, connector, entity, keep string) ([]batchRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, data, attempts FROM outbox
WHERE connector = ? AND entity = ? AND key >= ? AND key < ? AND op = ? AND idem <> ? ORDER BY seq`,
		connector, entity, batchKeyPrefix, batchKeyEnd, opBatch, keep)
	if err != nil {
		return nil, fmt.Errorf("state store: outbox: %w", err)
	}
	defer rows.Close()
	var out []batchRow
	for rows.Next() {
		r := batchRow{connector: connector, entity: entity}
		var data []byte
		if err := rows.Scan(&r.seq, &r.at, &data, &r.attempts); err != nil {
			return nil, fmt.Errorf("state store: outbox: %w", err)
		}
		if r.events, err = decodeBatch(data); err != nil {
			return nil, fmt.Errorf("state store: outbox row %d: %w", r.seq, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// explodeBatches turns connector's batch rows of entity — but those of poll keep —
// into single rows (at the end of the queue).
func explodeBatches(ctx context.Context, tx *sql.Tx, connector, entity, keep string) error {
	rows, err := batchRows(ctx, tx, connector, entity, keep)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := explode(ctx, tx, r, nil, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

// explode replaces batch row r by single rows, one per event, applying outs (by
// idempotency key) where given: an acknowledged event leaves, a refused one retries
// or becomes a dead letter, one without an outcome stays queued as it was. A record
// that has a newer single event queued keeps the newer one.
func explode(ctx context.Context, tx *sql.Tx, r batchRow, outs map[string]Outcome, now time.Time) error {
	for _, ev := range r.events {
		attempts, next, reason := r.attempts, int64(0), ""
		if o, ok := outs[ev.idem]; ok {
			switch o.Result {
			case OutcomeAcked:
				continue
			case OutcomeDead:
				if _, err := tx.ExecContext(ctx, `INSERT INTO dead_letters(connector, entity, key, op, idem, fp, at, data, attempts, reason, failed_at)
VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.connector, r.entity, ev.key, ev.op, ev.idem, ev.fp, r.at, ev.data, attempts+1, o.Reason, rfc3339(now)); err != nil {
					return fmt.Errorf("state store: dead letter %s %s: %w", r.entity, ev.key, err)
				}
				continue
			case OutcomeRetry:
				attempts, next, reason = attempts+1, o.Next.Unix(), o.Reason
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(connector, entity, key, op, idem, fp, at, data, attempts, next_at, last_error)
VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(connector, entity, key) DO NOTHING`,
			r.connector, r.entity, ev.key, ev.op, ev.idem, ev.fp, r.at, ev.data, attempts, next, reason); err != nil {
			return fmt.Errorf("state store: requeue %s %s: %w", r.entity, ev.key, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, r.seq); err != nil {
		return fmt.Errorf("state store: outbox row %d: %w", r.seq, err)
	}
	return nil
}

// recordBatches applies the outcomes of events that came from batch rows: a row whose
// events were all acknowledged is deleted, any other is exploded with its outcomes.
// It returns the other outcomes: those of single rows, and those of a batch row that
// is gone (Record, deleteExploded).
func recordBatches(ctx context.Context, tx *sql.Tx, connector string, outs []Outcome) ([]Outcome, error) {
	bySeq := map[int64][]Outcome{}
	var q strings.Builder
	q.WriteString(`SELECT seq, events FROM outbox WHERE connector = ? AND op = 'batch' AND seq IN (`)
	args := []any{connector}
	for _, o := range outs {
		if _, ok := bySeq[o.Seq]; !ok {
			if len(args) > 1 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
			args = append(args, o.Seq)
		}
		bySeq[o.Seq] = append(bySeq[o.Seq], o)
	}
	q.WriteString(`)`)
	type found struct {
		seq    int64
		events int
	}
	var batches []found
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f found
		if err := rows.Scan(&f.seq, &f.events); err != nil {
			rows.Close()
			return nil, err
		}
		batches = append(batches, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	for _, f := range batches {
		got := bySeq[f.seq]
		delete(bySeq, f.seq)
		acked := 0
		for _, o := range got {
			if o.Result == OutcomeAcked {
				acked++
			}
		}
		if acked == f.events {
			if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, f.seq); err != nil {
				return nil, err
			}
			continue
		}
		r, err := batchRowAt(ctx, tx, f.seq)
		if err != nil {
			return nil, err
		}
		byIdem := make(map[string]Outcome, len(got))
		for _, o := range got {
			byIdem[o.Idem] = o
		}
		if err := explode(ctx, tx, r, byIdem, now); err != nil {
			return nil, err
		}
	}
	var single []Outcome
	for _, o := range outs {
		if _, ok := bySeq[o.Seq]; ok {
			single = append(single, o)
		}
	}
	return single, nil
}

// deleteExploded removes delivered events that are still queued as single rows of
// their record with the same idempotency key: the events of a batch row exploded while
// it was being delivered (a newer single event of its entity arrived), re-inserted
// with new positions — the same events, so they are not sent again. A newer event of
// the record has another key and stays; an event acknowledged from its own row, just
// deleted, finds none (one row per record and connector). Record calls it only when
// some acknowledgements found no row; each look-up is one probe of outbox_record.
func deleteExploded(ctx context.Context, tx *sql.Tx, connector string, outs []Outcome) error {
	st, err := tx.PrepareContext(ctx, `DELETE FROM outbox WHERE connector = ? AND entity = ? AND key = ? AND idem = ?`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, o := range outs {
		if o.Key == "" {
			continue
		}
		if _, err := st.ExecContext(ctx, connector, o.Entity, o.Key, o.Idem); err != nil {
			return err
		}
	}
	return nil
}

// batchRowAt reads the batch row seq.
func batchRowAt(ctx context.Context, tx *sql.Tx, seq int64) (batchRow, error) {
	r := batchRow{seq: seq}
	var data []byte
	if err := tx.QueryRowContext(ctx, `SELECT connector, entity, at, data, attempts FROM outbox WHERE seq = ?`, seq).Scan(
		&r.connector, &r.entity, &r.at, &data, &r.attempts); err != nil {
		return r, fmt.Errorf("state store: outbox row %d: %w", seq, err)
	}
	var err error
	if r.events, err = decodeBatch(data); err != nil {
		return r, fmt.Errorf("state store: outbox row %d: %w", seq, err)
	}
	return r, nil
}
