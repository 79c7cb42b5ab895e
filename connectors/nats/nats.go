// Package nats is the `nats` connector: it publishes every event to a NATS JetStream
// stream for a regional hub, on the subject <prefix>.<clinic>.<entity>.<op>, with the
// event's idempotency key as Nats-Msg-Id so the stream drops resends, and counts an
// event delivered only on the stream's publish acknowledgement. The body is the
// canonical JSON line the `file` connector writes. It creates or checks the stream at
// start, and `medsync check` tests the connection, the credentials, the stream and the
// right to publish. The example hub consumer is the program in hub/. Register it with a blank
// import of medsync/connectors/nats.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors"
	"medsync/mapping"
)

// Name is the connector type.
const Name = "nats"

func init() {
	connectors.Register(&connectors.Spec{
		Name:        Name,
		Description: "publishes every event to a NATS JetStream stream for a regional hub",
		Entities:    mapping.Entities,
		Options:     options,
		New:         New,
	})
}

// Connector publishes events to a JetStream stream.
type Connector struct {
	s       *settings
	section string
	log     *slog.Logger

	deliverMu sync.Mutex // one batch at a time, so the stream keeps the dispatcher's order

	mu     sync.Mutex // guards the fields below
	nc     *natsgo.Conn
	js     jetstream.JetStream
	stream jetstream.Stream // nil until created or checked on this connection
	closed bool
	denied deniedLog
}

// New builds the connector from its config section. It does not connect: a server
// that is down must not stop medsync from starting; the first delivery connects.
func New(env connectors.Env, cfg *connectors.Values) (connectors.Connector, error) {
	s, err := parse(env, cfg)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Connector{s: s, section: cfg.Section, log: log.With("connector", env.Instance)}, nil
}

// Subject is where an event of entity and op is published.
func (c *Connector) Subject(entity, op string) string { return c.s.subject(entity, op) }

// StreamName is the stream the connector publishes to.
func (c *Connector) StreamName() string { return c.s.stream.Name }

// conn returns the live connection and its JetStream context, connecting first if
// there is none (the client reconnects by itself once connected).
func (c *Connector) conn(ctx context.Context) (*natsgo.Conn, jetstream.JetStream, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, errors.New("nats connector is closed")
	}
	if c.nc != nil && !c.nc.IsClosed() {
		nc, js := c.nc, c.js
		c.mu.Unlock()
		return nc, js, nil
	}
	c.mu.Unlock()
	nc, err := dial(ctx, c.s.urls, c.s.natsOptions(c.onAsyncError))
	if err != nil {
		return nil, nil, fmt.Errorf("nats: cannot connect to %s: %w", strings.Join(c.s.urls, ", "), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(c.s.maxPending), jetstream.WithPublishAsyncTimeout(c.s.timeout))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("nats: JetStream: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		nc.Close()
		return nil, nil, errors.New("nats connector is closed")
	}
	if c.nc != nil && !c.nc.IsClosed() { // another caller won the race
		nc.Close()
		return c.nc, c.js, nil
	}
	c.nc, c.js, c.stream = nc, js, nil
	return nc, js, nil
}

// dial connects, giving up when ctx ends (Connect itself knows no context).
func dial(ctx context.Context, urls []string, opts []natsgo.Option) (*natsgo.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		nc  *natsgo.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := natsgo.Connect(strings.Join(urls, ","), opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		return r.nc, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// ready connects and makes sure the stream is there as configured (once per
// connection, and again after a publish found no stream).
func (c *Connector) ready(ctx context.Context) (jetstream.JetStream, jetstream.Stream, error) {
	_, js, err := c.conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	st := c.stream
	c.mu.Unlock()
	if st != nil {
		return js, st, nil
	}
	st, err = c.ensureStream(ctx, js)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.stream = st
	c.mu.Unlock()
	return js, st, nil
}

// forgetStream makes the next batch check the stream again.
func (c *Connector) forgetStream() {
	c.mu.Lock()
	c.stream = nil
	c.mu.Unlock()
}

// Close closes the connection without waiting for anything in flight: what was not
// acknowledged is sent again later and dropped by the stream if it had arrived.
func (c *Connector) Close() error {
	c.mu.Lock()
	nc := c.nc
	c.closed, c.nc, c.js, c.stream = true, nil, nil, nil
	c.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	return nil
}

// deniedLog remembers the last permission violation the server reported. The server
// reports those asynchronously (the publish itself only times out), so Deliver and
// Check consult it to tell a refused subject from a slow server.
type deniedLog struct {
	err error
	at  time.Time
}

func (c *Connector) onAsyncError(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
	if errors.Is(err, natsgo.ErrPermissionViolation) {
		c.mu.Lock()
		c.denied = deniedLog{err: err, at: time.Now()}
		c.mu.Unlock()
		return
	}
	c.log.Warn("nats: asynchronous error", "error", err)
}

// deniedSince returns the permission violation reported since t for subject, or nil.
func (c *Connector) deniedSince(t time.Time, subject string) error {
	c.mu.Lock()
	d := c.denied
	c.mu.Unlock()
	if d.err == nil || d.at.Before(t) || !strings.Contains(d.err.Error(), subject) {
		return nil
	}
	return d.err
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Checker   = (*Connector)(nil)
)
