package nats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors"
	"medsync/connectors/file"
)

// Headers every message carries besides Nats-Msg-Id (the contract in README.md).
const (
	HeaderClinic      = "Medsync-Clinic"
	HeaderEntity      = "Medsync-Entity"
	HeaderOp          = "Medsync-Op"
	HeaderKey         = "Medsync-Key"
	HeaderFingerprint = "Medsync-Fingerprint"
	HeaderAt          = "Medsync-At"
)

// Message builds the message of ev: subject, headers and the canonical JSON line of
// the file connector (without its LF) as the body. An event that cannot be encoded
// gets a permanent error naming the record.
func (c *Connector) Message(ev connectors.Event) (*natsgo.Msg, error) {
	var buf bytes.Buffer
	if err := file.Encode(&buf, ev); err != nil {
		return nil, err
	}
	m := natsgo.NewMsg(c.s.subject(ev.Entity, ev.Op))
	m.Data = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if ev.IdempotencyKey == "" {
		return nil, connectors.Permanent(fmt.Sprintf("nats: %s %s: event has no idempotency key (engine bug)", ev.Entity, ev.Key), nil)
	}
	if strings.ContainsAny(ev.Key, "\r\n") {
		return nil, connectors.Permanent(fmt.Sprintf("nats: %s %q: a record key with a line break cannot go into a message header", ev.Entity, ev.Key), nil)
	}
	if err := checkToken(ev.Entity); err != nil {
		return nil, connectors.Permanent(fmt.Sprintf("nats: %s %s: entity %v and cannot be a subject token", ev.Entity, ev.Key, err), nil)
	}
	m.Header.Set(jetstream.MsgIDHeader, MsgID(c.s.clinic, ev))
	m.Header.Set(HeaderClinic, c.s.clinic)
	m.Header.Set(HeaderEntity, ev.Entity)
	m.Header.Set(HeaderOp, ev.Op)
	m.Header.Set(HeaderKey, ev.Key)
	m.Header.Set(HeaderFingerprint, ev.Fingerprint)
	m.Header.Set(HeaderAt, ev.At.Format(file.TimeLayout))
	return m, nil
}

// Deliver publishes the batch in order and waits for the stream's acknowledgements in
// the same order. The first failure makes it and every later event of the batch
// transient (the stream drops whatever of them had arrived when they are sent again),
// so a record's events never overtake each other on the stream.
func (c *Connector) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	if len(batch) == 0 {
		return errs
	}
	msgs := make([]*natsgo.Msg, len(batch))
	var ok []int
	for i, ev := range batch {
		m, err := c.Message(ev)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs[i] = m
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return errs
	}
	fail := func(from int, err error) []error {
		for _, i := range ok[from:] {
			errs[i] = err
		}
		return errs
	}
	if err := ctx.Err(); err != nil {
		return fail(0, connectors.Transient(fmt.Errorf("nats: not published: %w", err), 0))
	}
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	js, st, err := c.ready(ctx)
	if err != nil {
		return fail(0, c.classify(err, time.Time{}))
	}
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, len(ok))
	for n, i := range ok {
		f, err := js.PublishMsgAsync(msgs[i])
		if err != nil {
			// What went out ahead of the failure keeps its acknowledgements; this event
			// and the rest of the batch are transient.
			if c.settle(ctx, st, start, batch, ok[:n], futures, errs) {
				markRest(errs, ok[n:], errs[ok[n-1]])
			} else {
				errs[i] = c.classify(err, start)
				markRest(errs, ok[n+1:], errs[i])
			}
			return errs
		}
		futures = append(futures, f)
	}
	c.settle(ctx, st, start, batch, ok, futures, errs)
	return errs
}

// settle reads the acknowledgements of the published events in order, filling errs;
// from the first failure on, the rest of the batch is transient. It reports whether
// that happened.
func (c *Connector) settle(ctx context.Context, st jetstream.Stream, start time.Time, batch []connectors.Event, idx []int, fs []jetstream.PubAckFuture, errs []error) (failed bool) {
	for n, f := range fs {
		i := idx[n]
		var err error
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				err = c.confirmDuplicate(ctx, st, batch[i], f.Msg(), ack)
			}
		case err = <-f.Err():
			if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, natsgo.ErrNoResponders) {
				c.forgetStream()
			}
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			errs[i] = c.classify(err, start)
			markRest(errs, idx[n+1:], errs[i])
			return true
		}
	}
	return false
}

// markRest fails the events at idx that have no error yet as transient, after cause.
func markRest(errs []error, idx []int, cause error) {
	for _, j := range idx {
		if errs[j] == nil {
			errs[j] = connectors.Transient(fmt.Errorf("nats: not confirmed: an earlier event of the batch failed (%v)", cause), connectors.RetryAfter(cause))
		}
	}
}

// confirmDuplicate decides what a duplicate acknowledgement means. A resend of the very
// same event (same detection time) is delivered. But a record that changed A → B → A
// inside the duplicate window produces the idempotency key of A again for a new event:
// the stream would drop it and a hub would keep B. Such an event is published once more
// under an id that also names its detection time, still stable across resends.
func (c *Connector) confirmDuplicate(ctx context.Context, st jetstream.Stream, ev connectors.Event, m *natsgo.Msg, ack *jetstream.PubAck) error {
	at := m.Header.Get(HeaderAt)
	if m.Header.Get(jetstream.MsgIDHeader) != MsgID(c.s.clinic, ev) {
		return nil // already the republished form: its id names the detection time
	}
	orig, err := st.GetMsg(ctx, ack.Sequence)
	switch {
	case err == nil && orig.Header.Get(HeaderAt) == at && orig.Subject == m.Subject:
		return nil
	case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("nats: %s %s: the stream reports a duplicate of message %d but it cannot be read: %w", ev.Entity, ev.Key, ack.Sequence, err)
	}
	again := natsgo.NewMsg(m.Subject)
	again.Data = m.Data
	for k, v := range m.Header {
		again.Header[k] = v
	}
	again.Header.Set(jetstream.MsgIDHeader, RepublishID(c.s.clinic, ev))
	js, _, err := c.ready(ctx)
	if err != nil {
		return err
	}
	_, err = js.PublishMsg(ctx, again)
	return err
}

// MsgID is the Nats-Msg-Id of an event: the clinic and the event's idempotency key.
// The key alone is not enough on a stream that several clinics share: it is derived
// from connector, entity, record key and content, so two clinics with the same
// specialty or service catalogue (the same MIS product) would produce the same key,
// and the stream would drop the second clinic's record as a duplicate.
func MsgID(clinic string, ev connectors.Event) string { return clinic + ":" + ev.IdempotencyKey }

// RepublishID is the message id of an event whose id the stream already holds for an
// older event of the same record (see confirmDuplicate).
func RepublishID(clinic string, ev connectors.Event) string {
	return MsgID(clinic, ev) + "@" + ev.At.UTC().Format(time.RFC3339Nano)
}

// classify turns a client or server error into the dispatcher's classes: refused
// credentials or subjects are permanent (with what to do); everything else — the
// server down or restarting, a timeout, back-pressure, a missing stream — is transient.
func (c *Connector) classify(err error, since time.Time) error {
	var perm *connectors.PermanentError
	var tr *connectors.TransientError
	if errors.As(err, &perm) || errors.As(err, &tr) {
		return err
	}
	if denied := c.deniedSince(since, c.s.prefix+"."+c.s.clinic+"."); !since.IsZero() && denied != nil &&
		(errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsgo.ErrTimeout)) {
		err = denied
	}
	switch {
	case isAuth(err):
		return connectors.Permanent(fmt.Sprintf("nats: the server refused the credentials of [%s]: check user/password, token, nkey_seed or creds, then `medsync dlq replay`", c.section), err)
	case errors.Is(err, natsgo.ErrPermissionViolation):
		return connectors.Permanent(fmt.Sprintf("nats: the account of [%s] may not publish to %s: the server's operator must allow it, then `medsync dlq replay`", c.section, c.s.prefix+"."+c.s.clinic+".>"), err)
	case errors.Is(err, natsgo.ErrMaxPayload):
		return connectors.Permanent("nats: the record is larger than the server's max_payload", err)
	}
	return connectors.Transient(err, 0)
}
