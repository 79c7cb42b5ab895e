package status_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"medsync/service/status"
	"medsync/service/store"
)

// TestPauseIsVisible: a connector paused by its peer's Retry-After says so on the
// page, in /status.json and in `medsync status`.
func TestPauseIsVisible(t *testing.T) {
	r, _ := newRig(t)
	r.once()
	until := r.clock.Add(10 * time.Minute)
	if err := r.a.Store.SetPause(context.Background(), "file", store.Pause{Until: until, Reason: "peer: HTTP 429"}); err != nil {
		t.Fatal(err)
	}
	_, page := r.get("/")
	if !strings.Contains(page, "Передача приостановлена до") || !strings.Contains(page, "Retry-After") {
		t.Errorf("page does not show the pause:\n%s", text(page))
	}
	_, js := r.get("/status.json")
	var f status.Facts
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Connectors) != 1 || !f.Connectors[0].PausedUntil.Equal(until) {
		t.Fatalf("status.json connectors %+v", f.Connectors)
	}
	var b strings.Builder
	if err := status.WriteText(&b, &f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "paused until") || !strings.Contains(b.String(), "(peer asked to retry later)") {
		t.Errorf("status text:\n%s", b.String())
	}
	// Once the time has passed, nothing is shown.
	r.clock = until.Add(time.Second)
	if _, page := r.get("/"); strings.Contains(page, "приостановлена") {
		t.Error("an expired pause is still shown")
	}
}
