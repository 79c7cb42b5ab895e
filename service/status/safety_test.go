package status_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"medsync/service/logging"
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

// TestErrorTextsAreRedactedOnEverySurface: a connector's last error holding a token,
// a link code, a patient's e-mail and phone — as an older medsync stored it, or as
// the engine reports it — is masked on the page, in /status.json and in the text of
// `medsync status`, by the same redaction as the log.
func TestErrorTextsAreRedactedOnEverySurface(t *testing.T) {
	r, _ := newRig(t)
	r.once()
	const token = "tok-branch-a9b8c7d6"
	raw := "HTTP 401 for key " + token + ": code 482 913 576 of maria@mail.ru, +7 916 111-22-33"
	for _, red := range []*logging.Redactor{logging.NewRedactor([]string{token}), nil} {
		src := status.Source{Cfg: r.a.Cfg, Store: r.a.Store, Daemon: true, Now: func() time.Time { return r.clock },
			LastError: func(string) string { return raw }, Redactor: red}
		srv := httptest.NewServer(status.NewServer(src, nil, nil).Handler())
		get := func(path string) string {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		page, js := get("/"), get("/status.json")
		srv.Close()
		var f status.Facts
		if err := json.Unmarshal([]byte(js), &f); err != nil {
			t.Fatal(err)
		}
		var txt strings.Builder
		_ = status.WriteText(&txt, &f)
		leaks := []string{"482 913 576", "maria@mail.ru", "916 111-22-33"}
		if red != nil {
			leaks = append(leaks, token)
		}
		for where, s := range map[string]string{"page": page, "status.json": js, "medsync status": txt.String()} {
			for _, leak := range leaks {
				if strings.Contains(s, leak) {
					t.Errorf("%s shows %q", where, leak)
				}
			}
			if !strings.Contains(s, "HTTP 401") {
				t.Errorf("%s lost the error itself", where)
			}
		}
	}
}
