package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream returns the stream when it exists as configured. With create_stream it
// creates a missing stream and brings an existing one in line (adding this clinic's
// subjects to those of the other clinics); without, absence or a difference is an
// error that says what differs.
func (c *Connector) ensureStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	want := c.s.stream
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !c.s.create {
			return nil, fmt.Errorf("nats: stream %s does not exist: ask the hub's operator to create it (subjects %s), or set create_stream = true in [%s]",
				want.Name, strings.Join(want.Subjects, ","), c.section)
		}
		st, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another clinic created it just now
			st, err = js.Stream(ctx, want.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("nats: cannot create stream %s: %w", want.Name, err)
		}
		c.log.Info("nats: stream created", "stream", want.Name, "subjects", strings.Join(want.Subjects, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", want.Name, err)
	}
	have := st.CachedInfo().Config
	diffs := streamDiffs(have, want, c.s.wildcard())
	if len(diffs) == 0 {
		return st, nil
	}
	if !c.s.create {
		return nil, fmt.Errorf("nats: stream %s is not as [%s] expects: %s; change the stream or the section (create_stream = true lets medsync change the stream)",
			want.Name, c.section, strings.Join(diffs, "; "))
	}
	upd := have
	if !covers(upd.Subjects, c.s.wildcard()) {
		upd.Subjects = append(append([]string(nil), upd.Subjects...), c.s.wildcard())
	}
	upd.Retention, upd.Duplicates, upd.Replicas, upd.MaxAge = want.Retention, want.Duplicates, want.Replicas, want.MaxAge
	st, err = js.UpdateStream(ctx, upd)
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s differs (%s) and cannot be updated: %w", want.Name, strings.Join(diffs, "; "), err)
	}
	c.log.Info("nats: stream updated", "stream", want.Name, "changes", strings.Join(diffs, "; "))
	return st, nil
}

// streamDiffs lists how have differs from what the section asks for.
func streamDiffs(have, want jetstream.StreamConfig, wildcard string) []string {
	var out []string
	if !covers(have.Subjects, wildcard) {
		out = append(out, fmt.Sprintf("its subjects %s do not take %s", strings.Join(have.Subjects, ","), wildcard))
	}
	if have.Retention != want.Retention {
		out = append(out, fmt.Sprintf("retention is %s, the section says %s", have.Retention, want.Retention))
	}
	if have.Duplicates != want.Duplicates {
		out = append(out, fmt.Sprintf("duplicate window is %s, the section says %s", have.Duplicates, want.Duplicates))
	}
	if have.Replicas != want.Replicas {
		out = append(out, fmt.Sprintf("replicas is %d, the section says %d", have.Replicas, want.Replicas))
	}
	if have.MaxAge != want.MaxAge {
		out = append(out, fmt.Sprintf("max age is %s, the section says %s", have.MaxAge, want.MaxAge))
	}
	return out
}
