package app

import (
	"context"
	"time"

	"medsync/mapping"
	"medsync/service/linkcodes"
	"medsync/service/store"
)

// heldReview shows the state store's held deletions to registrar admins
// (linkcodes.Deletions): counts per entity first, a few keys for a look in the MIS.
type heldReview struct{ st *store.Store }

// sampleKeys is how many keys of an entity's held deletions the page names.
const sampleKeys = 10

func (h heldReview) HeldDeletions(ctx context.Context) ([]linkcodes.HeldGroup, error) {
	held, err := h.st.HeldDeletions(ctx)
	if err != nil {
		return nil, err
	}
	var out []linkcodes.HeldGroup
	for _, d := range held {
		if len(out) == 0 || out[len(out)-1].Entity != d.Entity {
			out = append(out, linkcodes.HeldGroup{Entity: d.Entity})
		}
		g := &out[len(out)-1]
		g.Count++
		if d.Confirmed {
			g.Confirmed++
		}
		if t, err := time.Parse(time.RFC3339, d.HeldAt); err == nil && (g.Since.IsZero() || t.Before(g.Since)) {
			g.Since = t
		}
		if len(g.Keys) < sampleKeys {
			g.Keys = append(g.Keys, d.Key)
		}
	}
	return out, nil
}

// ConfirmDeletions confirms an entity's held deletions and the held changes of the
// entities derived from it (slots freed by those appointments).
func (h heldReview) ConfirmDeletions(ctx context.Context, entity string) (int, error) {
	return h.st.ConfirmHeld(ctx, mapping.WithDerived(entity)...)
}
