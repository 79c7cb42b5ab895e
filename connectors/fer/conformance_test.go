package fer

import (
	"sync"
	"testing"

	"medsync/connectors"
	"medsync/connectors/conformance"
)

// TestConformance runs the shared connector suite; the "peer" is the in-memory index
// the service answers from.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Entities: entities,
		New: func(t *testing.T) *conformance.Instance {
			conn, err := New(testEnv(t), testValues(nil))
			if err != nil {
				t.Fatal(err)
			}
			c := conn.(*Conn)
			var mu sync.Mutex
			var got []conformance.Received
			c.applied = func(ev connectors.Event) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, conformance.Received{Entity: ev.Entity, Op: ev.Op, Key: ev.Key, IdempotencyKey: ev.IdempotencyKey})
			}
			return &conformance.Instance{Connector: c, Received: func(*testing.T) []conformance.Received {
				mu.Lock()
				defer mu.Unlock()
				return append([]conformance.Received(nil), got...)
			}}
		},
	})
}
