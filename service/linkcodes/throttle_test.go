package linkcodes

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"medsync/mapping/demo"
)

// signIn posts the sign-in form straight to the real handler, from addr.
func signIn(e *testEnv, addr, user, pass string) int {
	form := url.Values{"pre": {"t0ken"}, "user": {user}, "password": {pass}}
	req := httptest.NewRequest(http.MethodPost, Prefix+"login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: preCookie, Value: "t0ken"})
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	e.svc.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// TestParallelGuessesAreCountedBeforeTheCheck: 40 wrong passwords at once from one
// address — only login_max_failures of them reach the password check, the rest are
// refused as locked out.
func TestParallelGuessesAreCountedBeforeTheCheck(t *testing.T) {
	// A registrar whose hash has the production cost, so that the check takes as
	// long as in the field (the other test users use the minimum cost).
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, demo.SQLite, func(o *Options) { // login_max_failures = 3
		o.Registrar.Users = map[string]string{"vera": string(hash)}
	})
	codes := make([]int, 40)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = signIn(e, "10.0.0.66:4000", "vera", "guess")
		}()
	}
	wg.Wait()
	checked, locked := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			locked++
		default:
			t.Fatalf("unexpected answer %d", c)
		}
	}
	if checked != 3 || locked != 37 {
		t.Fatalf("%d attempts reached the password check, %d refused; want 3 and 37", checked, locked)
	}
	if n := strings.Count(e.logs.String(), "registrar sign-in failed"); n != 3 {
		t.Fatalf("%d failed password checks logged, want 3", n)
	}
}

// TestStrangerCannotLockTheRegistrarOut: guesses for anna from another address lock
// that address out, not anna at her own desk; guessing from many addresses only
// slows anna down (a short lock-out after 10 × login_max_failures, never doubled).
func TestStrangerCannotLockTheRegistrarOut(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil) // 3 failures; lock-out 1m doubling to 10m
	for range 10 {
		signIn(e, "203.0.113.9:5000", "anna", "guess")
	}
	if code := signIn(e, "203.0.113.9:5000", "anna", testPassword); code != http.StatusTooManyRequests {
		t.Fatalf("the guessing address is not locked: %d", code)
	}
	if code := signIn(e, "192.168.1.20:6000", "anna", testPassword); code != http.StatusSeeOther {
		t.Fatalf("anna at her own desk cannot sign in: %d", code)
	}

	// 30 guesses from 15 addresses (2 each: no address is locked) hit the per-user
	// limit: anna waits lockout_initial, not longer.
	for i := range 30 {
		signIn(e, fmt.Sprintf("198.51.100.%d:1", i/2), "anna", "guess")
	}
	if code := signIn(e, "192.168.1.20:6000", "anna", testPassword); code != http.StatusTooManyRequests {
		t.Fatalf("per-user limit: %d", code)
	}
	e.clock.add(61 * time.Second)
	if code := signIn(e, "192.168.1.20:6000", "anna", testPassword); code != http.StatusSeeOther {
		t.Fatalf("after lockout_initial anna still cannot sign in: %d", code)
	}
}
