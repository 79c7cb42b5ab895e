package excel

import (
	"context"
	"sync"
	"testing"

	"medsync/connectors"
	"medsync/connectors/conformance"
)

// ackRecorder records the events the connector acknowledged: the connector's "peer" is
// its own state file, whose contents TestExports checks.
type ackRecorder struct {
	*Connector
	mu  sync.Mutex
	got []conformance.Received
}

func (a *ackRecorder) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := a.Connector.Deliver(ctx, batch)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, ev := range batch {
		if i < len(errs) && errs[i] == nil {
			a.got = append(a.got, conformance.Received{Entity: ev.Entity, Op: ev.Op, Key: ev.Key, IdempotencyKey: ev.IdempotencyKey})
		}
	}
	return errs
}

func (a *ackRecorder) received(*testing.T) []conformance.Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]conformance.Received(nil), a.got...)
}

func TestConformance(t *testing.T) {
	spec := connectors.Lookup("excel")
	if spec == nil {
		t.Fatal("excel is not registered")
	}
	conformance.Run(t, conformance.Harness{
		Entities:  spec.Entities,
		Connector: "excel",
		New: func(t *testing.T) *conformance.Instance {
			c, _, _ := newTestConnector(t, nil)
			rec := &ackRecorder{Connector: c}
			return &conformance.Instance{Connector: rec, Received: rec.received}
		},
	})
}
