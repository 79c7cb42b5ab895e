package status

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMounts serves a handler the status server knows nothing of (the registrar page)
// under its prefix, next to the status endpoints.
func TestMounts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "registrar:"+r.URL.Path) })
	srv := NewServer(Source{Mounts: map[string]http.Handler{"/registrar/": h}}, NewCollector(), nil)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/registrar/find")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "registrar:/registrar/find" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}
