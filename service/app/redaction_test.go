package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "medsync/connectors/ondoc"
	"medsync/mapping/demo"
	"medsync/service/status"
)

// TestPeerEchoesAreMaskedEndToEnd wires the real ONDOC connector to a peer that
// refuses every doctor with HTTP 422, echoing the request (names, СНИЛС) and the
// keys: what the dead-letter list and the status facts
// keep of it holds none of them — the config's secrets reach the engine's redaction.
func TestPeerEchoesAreMaskedEndToEnd(t *testing.T) {
	const token = "tok-branch-a9b8c7d6e5"
	var mu sync.Mutex
	var names []string
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Items []map[string]any `json:"items"`
		}
		_ = json.Unmarshal(body, &req)
		mu.Lock()
		for _, it := range req.Items {
			for k, v := range it {
				if s, ok := v.(string); ok && strings.Contains(k, "name") && len([]rune(s)) >= 4 {
					names = append(names, s)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		msg := "rejected with key " + r.Header.Get("Authorization") + ": " + string(body)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "invalid", "message": msg}})
	}))
	defer peer.Close()

	_, driver, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 2, Patients: 6, Appointments: 4, Days: 4, Seed: 5})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, driver, dsn, `
[connector.ondoc]
server = `+peer.URL+`
token_company = tok-company-1f2e3d4c5b
token_branch = `+token+`
entities = doctor
inbound_interval = 24h
`)
	a, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	dl, err := a.Store.DeadLetters(context.Background(), "ondoc")
	if err != nil {
		t.Fatal(err)
	}
	f, err := status.Gather(context.Background(), status.Source{Cfg: cfg, Store: a.Store, LastError: a.Engine.LastError, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) == 0 || len(names) == 0 {
		t.Fatalf("the peer refused nothing (%d dead letters, %d names seen)", len(dl), len(names))
	}
	texts := map[string]string{}
	for _, d := range dl {
		texts["dead letter "+d.Key] = d.Reason
	}
	for _, c := range f.Connectors {
		texts["status "+c.Name] = c.LastError
	}
	for where, text := range texts {
		for _, leak := range append([]string{token, "a9b8c7d6e5", "tok-company-1f2e3d4c5b"}, names...) {
			if strings.Contains(text, leak) {
				t.Errorf("%s shows %q: %s", where, leak, text)
			}
		}
		if strings.Contains(text, "@") {
			t.Errorf("%s shows an e-mail: %s", where, text)
		}
	}
}
