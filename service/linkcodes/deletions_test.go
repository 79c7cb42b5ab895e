package linkcodes

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/mapping/demo"
)

// fakeHeld is a state store's held deletions.
type fakeHeld struct {
	mu        sync.Mutex
	groups    []HeldGroup
	confirmed []string
}

func (f *fakeHeld) HeldDeletions(context.Context) ([]HeldGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]HeldGroup(nil), f.groups...), nil
}

func (f *fakeHeld) ConfirmDeletions(_ context.Context, entity string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirmed = append(f.confirmed, entity)
	for i := range f.groups {
		if f.groups[i].Entity == entity {
			n := f.groups[i].Count - f.groups[i].Confirmed
			f.groups[i].Confirmed = f.groups[i].Count
			return n, nil
		}
	}
	return 0, nil
}

// An admin reviews held deletions on the registrar page — counts first, a few keys —
// and confirms or keeps them; a registrar without the role cannot; both choices are
// audited with the user's name.
func TestHeldDeletionsReview(t *testing.T) {
	held := &fakeHeld{groups: []HeldGroup{
		{Entity: "appointment", Count: 1200, Since: time.Now().Add(-time.Hour), Keys: []string{"101", "102"}},
		{Entity: "slot", Count: 1180, Since: time.Now().Add(-time.Hour)},
	}}
	e := newEnv(t, demo.SQLite, func(o *Options) {
		o.Deletions = held
		o.Registrar.Users["boris"] = o.Registrar.Users["anna"]
		o.Registrar.Admins = map[string]bool{"anna": true}
	})
	admin, clerk := newBrowser(t, e), newBrowser(t, e)
	if code, _ := admin.login("anna", testPassword); code != 200 {
		t.Fatal("anna cannot sign in")
	}
	if code, _ := clerk.login("boris", testPassword); code != 200 {
		t.Fatal("boris cannot sign in")
	}
	code, page := admin.get(Prefix + "deletions")
	if code != 200 || !strings.Contains(page, "Задержанные удаления") || !strings.Contains(page, "1200") || !strings.Contains(page, "101, 102") ||
		!strings.Contains(page, `id="confirm-appointment"`) || !strings.Contains(page, `id="keep-slot"`) {
		t.Fatalf("admin's review page: %d\n%s", code, page)
	}
	csrf := csrfRe.FindStringSubmatch(page)[1]

	if code, page := clerk.get(Prefix + "deletions"); code != http.StatusForbidden || !strings.Contains(page, "[registrar] admins") {
		t.Errorf("registrar without the role: %d", code)
	}
	if _, page := clerk.get(Prefix); strings.Contains(page, "Задержанные удаления") {
		t.Error("a registrar without the role sees the link")
	}
	clerkCSRF := csrfRe.FindStringSubmatch(func() string { _, p := clerk.get(Prefix); return p }())[1]
	if code, _ := clerk.post(Prefix+"deletions/confirm", url.Values{"entity": {"appointment"}, "csrf": {clerkCSRF}}); code != http.StatusForbidden || len(held.confirmed) != 0 {
		t.Errorf("registrar without the role confirmed: %d %v", code, held.confirmed)
	}
	if code, _ := admin.post(Prefix+"deletions/confirm", url.Values{"entity": {"appointment"}}); code != http.StatusForbidden || len(held.confirmed) != 0 {
		t.Errorf("a confirm without the CSRF token: %d %v", code, held.confirmed)
	}

	code, page = admin.post(Prefix+"deletions/keep", url.Values{"entity": {"slot"}, "csrf": {csrf}})
	if code != 200 || !strings.Contains(page, "остаются задержанными") || len(held.confirmed) != 0 {
		t.Errorf("keep: %d %v\n%s", code, held.confirmed, page)
	}
	code, page = admin.post(Prefix+"deletions/confirm", url.Values{"entity": {"appointment"}, "csrf": {csrf}})
	if code != 200 || !strings.Contains(page, "Подтверждено удалений: 1200 (записи на приём)") || len(held.confirmed) != 1 {
		t.Errorf("confirm: %d %v\n%s", code, held.confirmed, page)
	}
	var actions []string
	rows, err := e.svc.st.db.Query(`SELECT actor, action, detail FROM audit WHERE action LIKE '%deletions' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, act, d string
		rows.Scan(&a, &act, &d)
		actions = append(actions, a+" "+act+" "+d)
	}
	if strings.Join(actions, "; ") != "anna keep_deletions slot; anna confirm_deletions appointment: 1200" {
		t.Errorf("audit: %q", actions)
	}
}

// The review page as a person sees it, in headless Chromium.
func TestHeldDeletionsReviewChromium(t *testing.T) {
	bin := chromiumBin(t)
	held := &fakeHeld{groups: []HeldGroup{{Entity: "appointment", Count: 1200, Since: time.Now().Add(-time.Hour), Keys: []string{"101", "102"}}}}
	e := newEnv(t, demo.SQLite, func(o *Options) {
		o.Deletions = held
		o.Registrar.Admins = map[string]bool{"anna": true}
	})
	srv := signedInServer(t, e, "anna", Prefix+"deletions")
	dom := chromiumDump(t, bin, srv.URL+"/test-signin")
	for _, want := range []string{"Задержанные удаления", "1200", "101, 102", "Подтвердить удаление", "Оставить задержанными", "журнал аудита"} {
		if !strings.Contains(dom, want) {
			t.Errorf("review page in Chromium lacks %q:\n%s", want, dom)
		}
	}
}
