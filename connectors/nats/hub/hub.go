package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite"

	"medsync/connectors/file"
)

// schema: one row per (clinic, entity, key) with the stream sequence of the message
// it comes from. A delete keeps the row as a tombstone (deleted = 1) so that an older
// upsert delivered again later cannot bring the record back.
const schema = `
CREATE TABLE IF NOT EXISTS records (
	clinic      TEXT NOT NULL,
	entity      TEXT NOT NULL,
	key         TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	deleted     INTEGER NOT NULL,
	data        TEXT,
	fingerprint TEXT NOT NULL,
	at          TEXT NOT NULL,
	PRIMARY KEY (clinic, entity, key)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS current AS
	SELECT clinic, entity, key, data, fingerprint, at, seq FROM records WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS rejected (
	seq     INTEGER PRIMARY KEY,
	subject TEXT NOT NULL,
	reason  TEXT NOT NULL
);`

// upsert applies one message unless the row already comes from a later one.
const upsert = `INSERT INTO records (clinic, entity, key, seq, deleted, data, fingerprint, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (clinic, entity, key) DO UPDATE SET
	seq = excluded.seq, deleted = excluded.deleted, data = excluded.data,
	fingerprint = excluded.fingerprint, at = excluded.at
WHERE excluded.seq > records.seq`

// Hub rebuilds the current state of many clinics from the stream into SQLite.
type Hub struct {
	db  *sql.DB
	log *slog.Logger
}

// Open opens (or creates) the hub database at path.
func Open(path string, log *slog.Logger) (*Hub, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub database %s: %w", path, err)
	}
	return &Hub{db: db, log: log}, nil
}

// Close closes the database.
func (h *Hub) Close() error { return h.db.Close() }

// change is one message decoded.
type change struct {
	clinic, entity, key, op string
	seq                     uint64
	data, fingerprint, at   string
}

// decode reads a message of the contract (connectors/nats/README.md): the clinic from
// the subject <prefix>.<clinic>.<entity>.<op>, the rest from the body.
func decode(subject string, seq uint64, body []byte) (change, error) {
	toks := strings.Split(subject, ".")
	if len(toks) < 4 {
		return change{}, fmt.Errorf("subject %q is not <prefix>.<clinic>.<entity>.<op>", subject)
	}
	n := len(toks)
	c := change{clinic: toks[n-3], entity: toks[n-2], op: toks[n-1], seq: seq}
	var ln file.Line
	if err := json.Unmarshal(body, &ln); err != nil {
		return change{}, fmt.Errorf("body is not a JSON line: %w", err)
	}
	if ln.Entity != c.entity || ln.Op != c.op {
		return change{}, fmt.Errorf("body says %s %s, subject %s %s", ln.Entity, ln.Op, c.entity, c.op)
	}
	if ln.Key == "" {
		return change{}, errors.New("body has no key")
	}
	c.key, c.fingerprint, c.at = ln.Key, ln.Fingerprint, ln.At
	switch c.op {
	case "upsert":
		if len(ln.Data) == 0 {
			return change{}, errors.New("upsert without data")
		}
		c.data = string(ln.Data)
	case "delete":
	default:
		return change{}, fmt.Errorf("unknown op %q", c.op)
	}
	return c, nil
}

// Apply writes a batch of messages in one transaction. Applying a message again, or
// an older one after a newer one, changes nothing. A message that does not follow the
// contract is kept in table rejected and skipped.
func (h *Hub) Apply(ctx context.Context, msgs []jetstream.Msg) error {
	cs := make([]change, 0, len(msgs))
	var bad []rejection
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message on %s has no JetStream metadata: %w", m.Subject(), err)
		}
		c, err := decode(m.Subject(), md.Sequence.Stream, m.Data())
		if err != nil {
			h.log.Warn("hub: message rejected", "seq", md.Sequence.Stream, "subject", m.Subject(), "reason", err)
			bad = append(bad, rejection{md.Sequence.Stream, m.Subject(), err.Error()})
			continue
		}
		cs = append(cs, c)
	}
	return h.write(ctx, cs, bad)
}

type rejection struct {
	seq             uint64
	subject, reason string
}

// write applies decoded changes in one transaction.
func (h *Hub) write(ctx context.Context, cs []change, bad []rejection) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	up, err := tx.PrepareContext(ctx, upsert)
	if err != nil {
		return err
	}
	defer up.Close()
	for _, c := range cs {
		var data any
		if c.op == "upsert" {
			data = c.data
		}
		if _, err := up.ExecContext(ctx, c.clinic, c.entity, c.key, int64(c.seq), c.op == "delete", data, c.fingerprint, c.at); err != nil {
			return fmt.Errorf("hub: %s %s %s (message %d): %w", c.clinic, c.entity, c.key, c.seq, err)
		}
	}
	for _, r := range bad {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO rejected (seq, subject, reason) VALUES (?, ?, ?)`, int64(r.seq), r.subject, r.reason); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Consumer creates or updates the durable pull consumer (all messages of filter,
// acknowledged explicitly; an acknowledgement covers every earlier message).
func Consumer(ctx context.Context, js jetstream.JetStream, stream, durable, filter string) (jetstream.Consumer, error) {
	return js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       durable,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 100000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: filter,
	})
}

// Pull applies messages batch by batch: fetch, write in one transaction, then
// acknowledge the last one (covering the batch). A crash between commit and
// acknowledgement redelivers the batch, which changes nothing. With untilCaughtUp it
// returns once the consumer has nothing pending; otherwise when ctx ends.
func (h *Hub) Pull(ctx context.Context, cons jetstream.Consumer, batch int, untilCaughtUp bool) (applied int, err error) {
	for ctx.Err() == nil {
		b, err := cons.Fetch(batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return applied, err
		}
		var msgs []jetstream.Msg
		for m := range b.Messages() {
			msgs = append(msgs, m)
		}
		if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(msgs) == 0 {
			h.log.Warn("hub: fetch", "error", err)
		}
		if len(msgs) > 0 {
			if err := h.Apply(ctx, msgs); err != nil {
				return applied, err
			}
			if err := msgs[len(msgs)-1].Ack(); err != nil {
				return applied, fmt.Errorf("hub: acknowledging up to message %s: %w", msgs[len(msgs)-1].Subject(), err)
			}
			applied += len(msgs)
			continue
		}
		if untilCaughtUp {
			info, err := cons.Info(ctx)
			if err != nil {
				return applied, err
			}
			if info.NumPending == 0 && info.NumAckPending == 0 {
				return applied, nil
			}
		}
	}
	return applied, ctx.Err()
}

// Record is one current record of the hub.
type Record struct {
	Clinic, Entity, Key string
	Data                string
}

// Current lists the current records (tombstones left out), ordered.
func (h *Hub) Current(ctx context.Context) ([]Record, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT clinic, entity, key, data FROM current ORDER BY clinic, entity, key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.Clinic, &r.Entity, &r.Key, &r.Data); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
