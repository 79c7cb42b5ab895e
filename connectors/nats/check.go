package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors"
)

// errWrongLastSequence is the stream's refusal of a probe (see noSequence).
const errWrongLastSequence jetstream.ErrorCode = 10071

// Check tests, in order, that a server answers, that it takes the credentials, that
// JetStream is on for the account, that the stream exists as configured (created or
// brought in line when create_stream = true), and that this clinic may publish to its
// subjects. It stops at the first failure: later steps depend on it.
func (c *Connector) Check(ctx context.Context) []connectors.Check {
	urls := strings.Join(c.s.urls, ", ")
	var out []connectors.Check
	add := func(name string, err error, hint string) bool {
		out = append(out, connectors.Check{Name: "nats: " + name, Err: err, Hint: hint})
		return err == nil
	}
	_, js, err := c.conn(ctx)
	auth := err != nil && isAuth(err)
	if !add("server reachable at "+urls, errIf(!auth, err),
		"start the NATS server, or correct urls in ["+c.section+"]; a firewall must let this server reach the port (4222 by default)") {
		return out
	}
	if !add("credentials accepted", err,
		"check user/password, token, nkey_seed or creds in ["+c.section+"] against the account the hub's operator gave this clinic") {
		return out
	}
	_, err = js.AccountInfo(ctx)
	if !add("JetStream enabled for the account", err,
		"start nats-server with -js (or jetstream {} in its config), and give this account JetStream limits") {
		return out
	}
	_, _, err = c.ready(ctx)
	if !add("stream "+c.s.stream.Name, err, streamHint(c)) {
		return out
	}
	add("may publish to "+c.s.prefix+"."+c.s.clinic+".>", c.probe(ctx, js),
		"the account's permissions must allow publishing to "+c.s.prefix+"."+c.s.clinic+".> and to $JS.API.> (stream info, message get)")
	return out
}

func streamHint(c *Connector) string {
	if c.s.create {
		return "the account needs the right to create and update streams, or the hub's operator creates the stream"
	}
	return "create the stream with the settings of [" + c.section + "] (subjects " + strings.Join(c.s.stream.Subjects, ",") +
		"), or set create_stream = true"
}

// probe publishes a message the stream must refuse (an expected last sequence it can
// never have): the refusal proves the subject is taken by the stream and may be
// published to, and nothing is stored.
func (c *Connector) probe(ctx context.Context, js jetstream.JetStream) error {
	subj := c.s.prefix + "." + c.s.clinic + ".check.probe"
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	start := time.Now()
	m := natsgo.NewMsg(subj)
	m.Data = []byte("medsync check: refused by the stream, never stored")
	_, err := js.PublishMsg(ctx, m, jetstream.WithExpectLastSequence(noSequence))
	var api *jetstream.APIError
	switch {
	case errors.As(err, &api) && api.ErrorCode == errWrongLastSequence:
		return nil
	case err == nil:
		return fmt.Errorf("the stream stored the probe on %s (it should have refused it)", subj)
	}
	if denied := c.deniedSince(start, subj); denied != nil {
		return denied
	}
	return fmt.Errorf("publishing to %s: %w", subj, err)
}

func isAuth(err error) bool {
	return errors.Is(err, natsgo.ErrAuthorization) || errors.Is(err, natsgo.ErrAuthExpired) || errors.Is(err, natsgo.ErrAuthRevoked)
}

func errIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}
