package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "medsync/connectors/file"
	"medsync/mapping/demo"
	"medsync/service/app"
	"medsync/service/config"
	"medsync/service/engine"
	"medsync/service/status"
)

type rig struct {
	t     *testing.T
	a     *app.App
	col   *status.Collector
	srv   *httptest.Server
	clock time.Time
	polls []*engine.PollSummary
	sent  map[string]engine.DeliverResult
}

func writeConfig(t *testing.T, dsn string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	ini := fmt.Sprintf(`[service]
name = medsync-test
interval = 5
state_dir = state
log_dir = logs
timezone = Europe/Moscow
status_listen = 127.0.0.1:0

[mis]
driver = sqlite
dsn = %s
profile = demo
days_back = 3
days_ahead = 10

[connector.file]
path = out/events.jsonl
`, dsn)
	return config.WriteForTest(t, dir, ini)
}

// newRig opens a real app on the demo SQLite MIS, with the status server in front.
func newRig(t *testing.T) (*rig, func(string)) {
	t.Helper()
	db, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 2, Doctors: 6, Patients: 40, Appointments: 60, Days: 10, Seed: 7})
	cfg := writeConfig(t, dsn)
	r := &rig{t: t, col: status.NewCollector(), clock: time.Now()}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Observer: r.col})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	r.a = a
	r.col.Attach(a.Store, []string{"file"})
	srv := status.NewServer(status.Source{Cfg: cfg, Store: a.Store, LastError: a.Engine.LastError, Daemon: true,
		Now: func() time.Time { return r.clock }}, r.col, nil)
	r.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(r.srv.Close)
	exec := func(q string) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return r, exec
}

func (r *rig) once() *app.OnceResult {
	r.t.Helper()
	res, err := r.a.Once(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	r.col.Wait()
	r.polls = append(r.polls, res.Poll)
	return res
}

func (r *rig) get(path string) (int, string) {
	r.t.Helper()
	resp, err := http.Get(r.srv.URL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func entity(p *engine.PollSummary, name string) engine.EntitySummary {
	for _, e := range p.Entities {
		if e.Entity == name {
			return e
		}
	}
	return engine.EntitySummary{}
}

func TestHealthzTurns503WhenPollsFail(t *testing.T) {
	r, exec := newRig(t)
	if code, body := r.get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no poll has finished yet") {
		t.Errorf("before any poll: %d %s", code, body)
	}
	if res := r.once(); !res.Poll.OK() {
		t.Fatalf("first poll failed: %v", res.Poll.Err())
	}
	if code, body := r.get("/healthz"); code != http.StatusOK {
		t.Fatalf("after a good poll: %d %s", code, body)
	}
	exec(`DROP TABLE CLIENTS`)
	if res := r.once(); res.Poll.OK() {
		t.Fatal("poll succeeded without the CLIENTS table")
	}
	// Within three intervals of the last success the daemon is still healthy.
	r.clock = time.Now().Add(10 * time.Minute)
	if code, body := r.get("/healthz"); code != http.StatusOK {
		t.Errorf("10 minutes after the last success (interval 5m): %d %s", code, body)
	}
	r.clock = time.Now().Add(16 * time.Minute)
	code, body := r.get("/healthz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("16 minutes after the last success: %d %s", code, body)
	}
	var h status.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz body is not JSON: %v: %s", err, body)
	}
	if h.Status != "unhealthy" || !strings.Contains(h.Reason, "no successful poll since") || !strings.Contains(h.Reason, "patient") || !strings.Contains(strings.ToLower(h.Reason), "clients") {
		t.Errorf("reason does not say what failed: %+v", h)
	}
	// The page says the same in Russian.
	_, page := r.get("/")
	for _, want := range []string{"Есть проблема", "Нет успешного опроса МИС", "CLIENTS"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

func TestMetricsExposeTheEngineNumbers(t *testing.T) {
	r, _ := newRig(t)
	res := r.once()
	code, body := r.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	p := res.Poll
	want := []string{
		fmt.Sprintf(`medsync_rows_read_total{entity="patient"} %d`, entity(p, "patient").Read),
		fmt.Sprintf(`medsync_rows_skipped_total{entity="patient"} %d`, entity(p, "patient").Skipped),
		fmt.Sprintf(`medsync_events_total{entity="appointment",op="upsert"} %d`, entity(p, "appointment").Upserts),
		fmt.Sprintf(`medsync_events_total{entity="doctor",op="delete"} %d`, entity(p, "doctor").Deletes),
		fmt.Sprintf(`medsync_deliveries_total{connector="file",result="ok"} %d`, res.Delivered["file"].Delivered),
		`medsync_outbox_depth{connector="file"} 0`,
		`medsync_dead_letters{connector="file"} 0`,
		`medsync_poll_duration_seconds_count 1`,
		`medsync_polls_total{result="ok"} 1`,
		"medsync_last_success_timestamp_seconds ",
		`medsync_build_info{goversion="go`,
		"medsync_poll_running 0",
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if entity(p, "patient").Read == 0 || res.Delivered["file"].Delivered == 0 {
		t.Fatalf("the demo MIS gave nothing to count: %+v %+v", p, res.Delivered)
	}
	m := regexp.MustCompile(`medsync_last_success_timestamp_seconds ([0-9.e+]+)`).FindStringSubmatch(body)
	var ts float64
	if m != nil {
		fmt.Sscan(m[1], &ts)
	}
	if got := time.UnixMilli(int64(ts * 1000)); got.Sub(p.Started).Abs() > time.Second {
		t.Errorf("last success %v, poll started %v", got, p.Started)
	}
}

// checkPage checks that the status page shows each entity's counts of the last
// poll and the connector's queue.
func checkPage(t *testing.T, page string, p *engine.PollSummary, queued, dead int) {
	t.Helper()
	for _, want := range []string{"Опросы МИС", "Данные по сущностям", "Коннекторы", "Последние 24 часа", "Последний опрос", "Следующий опрос"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks heading %q", want)
		}
	}
	for _, e := range p.Entities {
		row := regexp.MustCompile(`\(` + e.Entity + `\)\s*` + regexp.QuoteMeta(modeRU(e.Mode)) + `\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(page)
		if row == nil {
			t.Errorf("page has no row for %s:\n%s", e.Entity, page)
			continue
		}
		got := row[1] + " " + row[2] + " " + row[3] + " " + row[4]
		want := fmt.Sprintf("%d %d %d %d", e.Read, e.Skipped, e.Upserts, e.Deletes)
		if got != want {
			t.Errorf("%s: page shows read/skipped/upserts/deletes %s, engine reported %s", e.Entity, got, want)
		}
	}
	if !regexp.MustCompile(fmt.Sprintf(`file\s+file\s+%d\s+\d+\s+\d+\s+%d`, queued, dead)).MatchString(page) {
		t.Errorf("page does not show connector file with %d queued and %d dead letters:\n%s", queued, dead, page)
	}
}

func modeRU(m string) string {
	switch m {
	case "versions":
		return "по версиям"
	case "summary":
		return "по сводкам дней"
	}
	return "полное чтение"
}

var tags = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]+>`)

func text(html string) string { return tags.ReplaceAllString(html, " ") }

func TestStatusPageShowsTheEngineNumbers(t *testing.T) {
	r, exec := newRig(t)
	r.once()
	exec(`UPDATE CLIENTS SET LASTNAME = LASTNAME || 'а'`)
	res := r.once()
	code, page := r.get("/")
	if code != http.StatusOK {
		t.Fatalf("/: %d", code)
	}
	checkPage(t, text(page), res.Poll, 0, 0)
	if !strings.Contains(page, "<svg") || strings.Count(page, "<polyline") < 1 {
		t.Error("page has no chart")
	}
	if strings.Contains(page, "<script") {
		t.Error("page uses JavaScript")
	}
	// /status.json says the same.
	_, js := r.get("/status.json")
	var f status.Facts
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.History) != 2 || !f.Healthy || f.LastPoll == nil || entity(&engine.PollSummary{Entities: f.Entities}, "patient").Upserts != entity(res.Poll, "patient").Upserts {
		t.Errorf("status.json: %+v", f)
	}
	// The queue is sampled right after the poll, while delivery may already run.
	changed := 0
	for _, e := range res.Poll.Entities {
		changed += e.Upserts + e.Deletes
	}
	if q := f.History[1].Queue; q < 0 || q > changed {
		t.Errorf("queue depth sampled after the second poll: %d, want 0..%d", q, changed)
	}
}

func TestHeldDeletionsAlert(t *testing.T) {
	r, exec := newRig(t)
	r.once()
	exec(`DELETE FROM CLIENTS`)
	res := r.once()
	if entity(res.Poll, "patient").Held == 0 {
		t.Fatalf("the guard held nothing: %+v", entity(res.Poll, "patient"))
	}
	_, page := r.get("/")
	for _, want := range []string{"Удаления задержаны", "medsync deletions list", "medsync deletions confirm", fmt.Sprintf("Пациенты (patient): %d", entity(res.Poll, "patient").Held)} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if _, m := r.get("/metrics"); !strings.Contains(m, fmt.Sprintf(`medsync_held_deletions{entity="patient"} %d`, entity(res.Poll, "patient").Held)) {
		t.Errorf("/metrics has no held-deletions gauge for patient:\n%s", m)
	}
}

func TestStatusPageInChromium(t *testing.T) {
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (CI=true: .ci/run installs Debian's chromium package)", chromium)
		}
		t.Skipf("%s is missing: apt-get install chromium to run this test", chromium)
	}
	r, exec := newRig(t)
	r.once()
	exec(`UPDATE DOCTORS SET LASTNAME = LASTNAME || 'о'`)
	res := r.once()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec_(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--dump-dom", r.srv.URL+"/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	for _, want := range []string{"medsync — состояние службы", "Работает нормально", "Коннекторы", "Данные по сущностям"} {
		if !strings.Contains(dom, want) {
			t.Errorf("chromium shows no %q", want)
		}
	}
	checkPage(t, text(dom), res.Poll, 0, 0)
}

var exec_ = exec.CommandContext
