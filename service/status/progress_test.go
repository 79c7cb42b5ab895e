package status_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"medsync/mapping/demo"
	"medsync/service/app"
	"medsync/service/engine"
	"medsync/service/status"
)

// While the first poll runs, the page shows it as work in progress — rows read per
// entity, no red «Есть проблема» — and /status.json says the same; after it, the
// second poll knows how many rows to expect.
func TestFirstPollShowsProgress(t *testing.T) {
	_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 2, Doctors: 6, Patients: 40, Appointments: 60, Days: 10, Seed: 7})
	cfg := writeConfig(t, dsn)
	col := status.NewCollector()
	var srv *httptest.Server
	type seen struct {
		facts status.Facts
		page  string
	}
	var during []seen
	hooks := engine.Hooks{AfterRead: func(entity string) {
		if entity != "appointment" {
			return
		}
		var s seen
		resp, err := http.Get(srv.URL + "/status.json")
		if err != nil {
			t.Error(err)
			return
		}
		json.NewDecoder(resp.Body).Decode(&s.facts)
		resp.Body.Close()
		resp, err = http.Get(srv.URL + "/")
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.page = string(b)
		if chromiumPath() != "" {
			s.page = dumpDOM(t, srv.URL+"/")
		}
		during = append(during, s)
	}}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Observer: col, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	col.Attach(a.Store, []string{"file"})
	srv = httptest.NewServer(status.NewServer(status.Source{Cfg: cfg, Store: a.Store, LastError: a.Engine.LastError, Daemon: true}, col, nil).Handler())
	defer srv.Close()

	for i := 0; i < 2; i++ {
		if _, err := a.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		col.Wait()
	}
	if len(during) != 2 {
		t.Fatalf("observed %d polls in progress, want 2", len(during))
	}
	first, second := during[0], during[1]
	r := first.facts.Running
	if r == nil || !r.First || !first.facts.Healthy {
		t.Fatalf("first poll in progress: running %+v, healthy %v (%s)", r, first.facts.Healthy, first.facts.Reason)
	}
	states := map[string]status.EntityProgress{}
	for _, e := range r.Entities {
		states[e.Entity] = e
	}
	if e := states["appointment"]; e.State != "reading" || e.Rows == 0 || e.Expected != 0 {
		t.Errorf("appointment during the first poll: %+v", e)
	}
	if e := states["doctor"]; e.State != "done" || e.Rows != 6 {
		t.Errorf("doctor during the first poll: %+v", e)
	}
	if e := states["slot"]; e.State != "waiting" {
		t.Errorf("slot during the first poll: %+v", e)
	}
	for _, want := range []string{"Идёт первый опрос МИС", "Записи на приём (appointment)", "читается", "оценка появится после первого опроса", "идёт сейчас"} {
		if !strings.Contains(first.page, want) {
			t.Errorf("page during the first poll lacks %q", want)
		}
	}
	if strings.Contains(first.page, "Есть проблема") || strings.Contains(first.page, "Ещё не завершился ни один опрос") {
		t.Error("the first poll in progress is shown as a problem")
	}
	if r := second.facts.Running; r == nil || r.First {
		t.Fatalf("second poll: %+v", r)
	}
	for _, e := range second.facts.Running.Entities {
		if e.Entity == "appointment" && e.Expected == 0 {
			t.Errorf("the second poll does not expect the first poll's %s rows: %+v", e.Entity, e)
		}
	}
	if !strings.Contains(second.page, "Работает нормально") || !strings.Contains(second.page, "Идёт опрос МИС") {
		t.Error("second poll: page does not show both the health and the poll in progress")
	}
}

func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if os.Getenv("CI") == "true" {
		panic("/usr/bin/chromium is missing (CI=true: .ci/run installs Debian's chromium package)")
	}
	return ""
}

func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec_(ctx, chromiumPath(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--dump-dom", url).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}
