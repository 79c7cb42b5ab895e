package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"medsync/mapping/convert"
	"medsync/service/status"
)

// TestVersionDriftShownEverywhere: the alert a full read raises when the MIS's
// version column missed an update (issue 9 hole 7) is on the status page, in
// /status.json, in `medsync status` and in /metrics.
func TestVersionDriftShownEverywhere(t *testing.T) {
	r, exec := newRig(t)
	r.once()
	msk, _ := time.LoadLocation("Europe/Moscow")
	today := int(convert.ToOLE(convert.FromTime(time.Now().In(msk))))
	exec(fmt.Sprintf(`UPDATE SCHEDULE SET STATUS = 1 WHERE SCHEDID = (SELECT MIN(SCHEDID) FROM SCHEDULE WHERE DELETED = 0 AND STATUS = 0 AND WDATE BETWEEN %d AND %d)`, today, today+5))
	r.once() // the versions path does not see it
	if err := r.a.Store.SetMeta(context.Background(), "last_full_read", ""); err != nil {
		t.Fatal(err)
	}
	if e := entity(r.once().Poll, "appointment"); e.Mode != "full" || e.VersionDrift != 1 {
		t.Fatalf("full read: %+v", e)
	}
	_, page := r.get("/")
	if !strings.Contains(page, "Столбец версии МИС пропускает изменения") || !strings.Contains(page, "триггер") {
		t.Errorf("the status page shows no drift alert:\n%s", text(page))
	}
	_, js := r.get("/status.json")
	var f status.Facts
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Drift) != 1 || f.Drift[0].Entity != "appointment" || f.Drift[0].Count != 1 || len(f.Drift[0].Keys) != 1 {
		t.Fatalf("status.json version_drift: %+v", f.Drift)
	}
	var b strings.Builder
	if err := status.WriteText(&b, &f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "VERSION COLUMN MISSES CHANGES: appointment") || !strings.Contains(b.String(), f.Drift[0].Keys[0]) {
		t.Errorf("medsync status text:\n%s", b.String())
	}
	if _, m := r.get("/metrics"); !strings.Contains(m, `medsync_version_drift_records{entity="appointment"} 1`) {
		t.Errorf("/metrics lacks the drift gauge")
	}
}
