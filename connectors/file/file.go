// Package file is the `file` connector: it appends every event as one JSON object per
// line to a JSON-lines file (default out/events.jsonl next to config.ini), for audits,
// for scripts that pick changes up themselves, and as the simplest working connector.
// Register it with a blank import of medsync/connectors/file.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/jsonx"
)

// Name is the connector type.
const Name = "file"

// TimeLayout is how `at` is written: RFC 3339 with an explicit numeric offset, never Z.
const TimeLayout = "2006-01-02T15:04:05.999999999-07:00"

func init() {
	connectors.Register(&connectors.Spec{
		Name:        Name,
		Description: "appends every event as one JSON line to a file",
		Entities:    mapping.Entities,
		Options: []connectors.Option{
			{Name: "path", Default: "out/events.jsonl", Help: "file to append to; relative to the folder of config.ini", Writes: connectors.WriteFile},
			{Name: "fsync", Default: "true", Help: "flush each batch to disk before acknowledging it"},
		},
		New: New,
	})
}

// Connector appends events to a JSON-lines file.
type Connector struct {
	path  string
	fsync bool
	mu    sync.Mutex // one batch at a time, so lines of two batches never interleave
}

// New builds the connector from its config section.
func New(env connectors.Env, cfg *connectors.Values) (connectors.Connector, error) {
	p, err := cfg.Required("path")
	if err != nil {
		return nil, err
	}
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) {
		p = filepath.Join(env.BaseDir, p)
	}
	fsync, err := cfg.Bool("fsync")
	if err != nil {
		return nil, err
	}
	return &Connector{path: filepath.Clean(p), fsync: fsync}, nil
}

// Path is the file the connector appends to.
func (c *Connector) Path() string { return c.path }

// Line is one line of the file.
type Line struct {
	Entity         string          `json:"entity"`
	Op             string          `json:"op"`
	Key            string          `json:"key"`
	IdempotencyKey string          `json:"idempotency_key"`
	Fingerprint    string          `json:"fingerprint"`
	At             string          `json:"at"`
	Data           json.RawMessage `json:"data,omitempty"`
}

// Encode appends ev to buf as one line (LF-terminated), or returns a permanent error
// naming the record. Other connectors that carry the same canonical records (nats)
// use it, so every consumer reads one format.
func Encode(buf *bytes.Buffer, ev connectors.Event) error { return encode(buf, ev) }

// encode renders ev as one line, or returns a permanent error naming the record.
// The line is what encoding/json makes of a Line (without HTML escaping; the file
// connector's tests compare the two), written by hand: a first poll writes a million
// lines. The data goes in as it is when it is valid compact JSON — the engine's
// canonical encoding always is — and compacted when it has white space.
func encode(buf *bytes.Buffer, ev connectors.Event) error {
	switch ev.Op {
	case connectors.OpUpsert, connectors.OpDelete:
	default:
		return connectors.Permanent(fmt.Sprintf("%s %s: unknown operation %q (want upsert or delete)", ev.Entity, ev.Key, ev.Op), nil)
	}
	valid, compact := true, true
	if ev.Op == connectors.OpUpsert {
		if valid, compact = jsonx.Valid(ev.Data); !valid {
			return connectors.Permanent(fmt.Sprintf("%s %s: the record data is not valid JSON", ev.Entity, ev.Key), nil)
		}
	}
	b := buf.AvailableBuffer()
	b = append(b, `{"entity":`...)
	b = jsonx.AppendString(b, ev.Entity, false)
	b = append(b, `,"op":`...)
	b = jsonx.AppendString(b, ev.Op, false)
	b = append(b, `,"key":`...)
	b = jsonx.AppendString(b, ev.Key, false)
	b = append(b, `,"idempotency_key":`...)
	b = jsonx.AppendString(b, ev.IdempotencyKey, false)
	b = append(b, `,"fingerprint":`...)
	b = jsonx.AppendString(b, ev.Fingerprint, false)
	b = append(b, `,"at":"`...)
	b = ev.At.AppendFormat(b, TimeLayout) // digits, signs and colons: nothing to escape
	b = append(b, '"')
	if ev.Op == connectors.OpUpsert {
		b = append(b, `,"data":`...)
		if compact {
			b = append(b, ev.Data...)
		} else {
			buf.Write(b)
			_ = json.Compact(buf, ev.Data) // valid: checked above
			b = buf.AvailableBuffer()
		}
	}
	b = append(b, '}', '\n')
	buf.Write(b)
	return nil
}

// Deliver appends the batch with one write call and, when fsync is on, flushes it to
// disk before acknowledging. An event that cannot be encoded fails alone, permanently.
func (c *Connector) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	if len(batch) == 0 {
		return errs
	}
	var buf bytes.Buffer
	var ok []int
	for i, ev := range batch {
		n := buf.Len()
		if err := encode(&buf, ev); err != nil {
			buf.Truncate(n)
			errs[i] = err
			continue
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return errs
	}
	fail := func(err error) []error {
		for _, i := range ok {
			errs[i] = connectors.Transient(err, 0)
		}
		return errs
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("file %s: not written: %w", c.path, err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.write(buf.Bytes()); err != nil {
		return fail(err)
	}
	return errs
}

func (c *Connector) write(b []byte) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("file connector: cannot create folder %s: %w", filepath.Dir(c.path), err)
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("file connector: cannot open %s for appending: %w", c.path, err)
	}
	_, werr := f.Write(b)
	if werr == nil && c.fsync {
		werr = f.Sync()
	}
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("file connector: writing %s: %w", c.path, werr)
	}
	if cerr != nil {
		return fmt.Errorf("file connector: closing %s: %w", c.path, cerr)
	}
	return nil
}

// Close does nothing: the file is opened per batch so that it can be read, moved or
// rotated between polls (Windows keeps open files locked).
func (c *Connector) Close() error { return nil }

// Check reports whether the folder of the file can be created and written to.
func (c *Connector) Check(ctx context.Context) []connectors.Check {
	dir := filepath.Dir(c.path)
	name := fmt.Sprintf("file: folder %s is writable", dir)
	err := ctx.Err()
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".medsync-check-*"); err == nil {
			_, err = f.WriteString(time.Now().Format(time.RFC3339))
			err = errors.Join(err, f.Close(), os.Remove(f.Name()))
		}
	}
	if err == nil {
		if st, serr := os.Stat(c.path); serr == nil && st.IsDir() {
			err = fmt.Errorf("%s is a folder, not a file", c.path)
		}
	}
	return []connectors.Check{{
		Name: name,
		Err:  err,
		Hint: "give the account the medsync service runs as write access to this folder, or set path in the [connector] section to a folder it can write",
	}}
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Checker   = (*Connector)(nil)
)
