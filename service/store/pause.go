package store

import (
	"context"
	"strings"
	"time"
)

// Pause is a connector's delivery pause: the peer asked (429/503 with Retry-After)
// not to be called again before Until.
type Pause struct {
	Until  time.Time
	Reason string // the error that carried the peer's wish
}

func pauseKey(connector string) string { return "pause:" + connector }

// SetPause records a connector's delivery pause (kept across restarts, shown by
// `medsync status` even when the daemon does not answer). A zero Until clears it.
func (s *Store) SetPause(ctx context.Context, connector string, p Pause) error {
	if p.Until.IsZero() {
		_, err := s.db.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, pauseKey(connector))
		return err
	}
	return s.SetMeta(ctx, pauseKey(connector), p.Until.UTC().Format(time.RFC3339Nano)+" "+p.Reason)
}

// GetPause returns a connector's recorded delivery pause (zero when none).
func (s *Store) GetPause(ctx context.Context, connector string) (Pause, error) {
	v, err := s.GetMeta(ctx, pauseKey(connector))
	if err != nil || v == "" {
		return Pause{}, err
	}
	at, reason, _ := strings.Cut(v, " ")
	until, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Pause{}, nil // unreadable: no pause rather than a stuck queue
	}
	return Pause{Until: until, Reason: reason}, nil
}
