package status_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"medsync/mapping/demo"
	"medsync/service/app"
	"medsync/service/status"
)

// TestUnmappedCodesOnStatusPage: a status code the profile does not map skipped rows
// with no sign on the status page; now the page and `medsync status` name the code
// and count its records.
func TestUnmappedCodesOnStatusPage(t *testing.T) {
	db, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 40, Days: 6, Seed: 7})
	if _, err := db.Exec(`UPDATE SCHEDULE SET STATUS = 7 WHERE DELETED = 0 AND WDATE = (SELECT MAX(WDATE) FROM SCHEDULE)`); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dsn)
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := status.Source{Cfg: cfg, Store: a.Store, Daemon: true, UnmappedCodes: a.Source.UnmappedCodes}
	srv := httptest.NewServer(status.NewServer(src, status.NewCollector(), nil).Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, want := range []string{"В МИС есть коды, которых нет в профиле", "поле status: код «7»", "такие записи пропускаются", "map.&lt;поле&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	f, err := status.Gather(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := status.WriteText(&out, f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `UNMAPPED CODE: appointment.status "7"`) {
		t.Errorf("medsync status lacks the code:\n%s", out.String())
	}
}
