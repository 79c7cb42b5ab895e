package status_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A DNS-rebinding page reaches the server with its own host name: refused. The
// headers that keep the pages out of frames and MIME sniffing are on every answer.
func TestStatusServerHostCheckAndHeaders(t *testing.T) {
	r, _ := newRig(t)
	r.once()
	get := func(host, path string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, host := range []string{"", "localhost:8470", "127.0.0.1", "[::1]:8470", "10.0.0.5:8470"} {
		resp, _ := get(host, "/status.json")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %q: %s", host, resp.Status)
		}
	}
	for _, host := range []string{"evil.example", "attacker.example.com:8470"} {
		for _, path := range []string{"/status.json", "/", "/metrics", "/registrar/"} {
			resp, body := get(host, path)
			if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "status_hosts") || strings.Contains(body, `"healthy"`) {
				t.Errorf("Host %q %s: %s %q", host, path, resp.Status, body)
			}
		}
	}
	resp, _ := get("", "/")
	for k, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}
