package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "medsync/connectors/file"
	_ "medsync/connectors/ondoc"
	"medsync/mapping/demo"
)

func writeINI(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.ini")
	if err := os.WriteFile(p, []byte("[service]\nstatus_listen = 127.0.0.1:0\n\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, path string) (*Report, string) {
	t.Helper()
	var out strings.Builder
	rep := Run(context.Background(), path, &out, Options{})
	t.Log("\n" + out.String())
	return rep, out.String()
}

func TestCheck(t *testing.T) {
	_, _, sqliteDSN, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 20, Days: 6, Seed: 5})
	brokenDB, _, brokenDSN, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 20, Days: 6, Seed: 5})
	if _, err := brokenDB.Exec(`DROP TABLE SERVICES`); err != nil {
		t.Fatal(err)
	}
	if _, err := brokenDB.Exec(`ALTER TABLE FILIALS RENAME COLUMN ADDRESS TO FILIAL_ADDRESS`); err != nil {
		t.Fatal(err)
	}
	ondoc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid token"}`))
	}))
	defer ondoc.Close()
	file := "[connector.file]\npath = out.jsonl\n"
	for _, tc := range []struct {
		name string
		ini  string
		ok   bool
		want []string // in the failed lines
	}{
		{"healthy", "[mis]\ndriver = sqlite\ndsn = " + sqliteDSN + "\n\n" + file, true, nil},
		{"config typo", "[mis]\ndriver = sqlite\ndsn = x.db\nday_back = 3\n", false, []string{"✗ config", "[mis] day_back", "days_back"}},
		{"interval 0", "[mis]\ndriver = sqlite\ndsn = x.db\n", false, []string{"✗ config", "[service] interval: 0 is out of range"}},
		{"missing table and column", "[mis]\ndriver = sqlite\ndsn = " + brokenDSN + "\n\n" + file, false,
			[]string{"✗ statement service.rows", "SERVICES", "✗ statement branch.rows", "ADDRESS"}},
		{"ondoc 401", "[mis]\ndriver = sqlite\ndsn = " + sqliteDSN + "\n\n[connector.ondoc]\nserver = " + ondoc.URL + "\ntoken_company = wrong\ntoken_branch = wrong\n", false,
			[]string{"✗ connector ondoc: ondoc: company key (token_company) accepted", "401"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini := tc.ini
			if tc.name == "interval 0" {
				ini = strings.Replace(ini, "[mis]", "[service]\ninterval = 0\n[mis]", 1)
				ini = strings.Replace(ini, "[service]\ninterval", "[dispatch]\n[service]\ninterval", 1)
			}
			rep, out := run(t, writeINI(t, ini))
			if rep.OK() != tc.ok {
				t.Fatalf("OK() = %v, want %v", rep.OK(), tc.ok)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, f := range rep.Failed() {
				if f.Hint == "" {
					t.Errorf("failed check %q says nothing about what to do", f.Name)
				}
			}
		})
	}
}

func TestCheckWrongPassword(t *testing.T) {
	_, _, dsn, _ := demo.TestMIS(t, demo.MySQL, demo.Sizes{Branches: 1, Doctors: 2, Patients: 5, Appointments: 5, Days: 4, Seed: 1})
	// root@tcp(host)/db… → root:wrong@tcp(host)/db…
	bad := strings.Replace(dsn, "root@", "root:wrong-password@", 1)
	if bad == dsn {
		t.Fatalf("cannot put a password into %q", dsn)
	}
	rep, out := run(t, writeINI(t, "[mis]\ndriver = mysql\ndsn = "+bad+"\n\n[connector.file]\npath = out.jsonl\n"))
	if rep.OK() {
		t.Fatal("check passed with a wrong MIS password")
	}
	for _, w := range []string{"✗ MIS connection", "[mis] dsn", "Access denied", "→ fix [mis] dsn"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if strings.Contains(out, "wrong-password") {
		t.Error("output shows the password")
	}
}

// TestCheckWarnsOfZoneCodesAndHorizon: a MIS whose clock runs in another zone than
// [service] timezone, a status code the profile does not map, and days_ahead past the
// last shift are each named by `check` (they pass silently before).
func TestCheckWarnsOfZoneCodesAndHorizon(t *testing.T) {
	db, _, dsn, _ := demo.TestMIS(t, demo.Postgres, demo.Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 40, Days: 6, Seed: 5})
	if _, err := db.Exec(`UPDATE SCHEDULE SET STATUS = 7 WHERE DELETED = 0 AND WDATE = (SELECT MAX(WDATE) FROM SCHEDULE)`); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		name, zone, serverZone string
		want, not              []string
	}{
		{"Yekaterinburg read as Moscow", "Europe/Moscow", "Asia/Yekaterinburg",
			[]string{"! MIS time zone", "2 h ahead of the time in Europe/Moscow", "Asia/Yekaterinburg", "! codes appointment.status", `code "7"`, "! schedule horizon", "days_ahead = 30"}, nil},
		{"zone set right", "Asia/Yekaterinburg", "Asia/Yekaterinburg", []string{"✓ MIS time zone"}, []string{"! MIS time zone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini := "[service]\ntimezone = " + tc.zone + "\n[mis]\ndriver = postgres\ndays_ahead = 30\ndsn = " + dsn + sep + "timezone=" + tc.serverZone + "\n\n[connector.file]\npath = out.jsonl\n"
			p := filepath.Join(t.TempDir(), "config.ini")
			if err := os.WriteFile(p, []byte("[dispatch]\n"+strings.Replace(ini, "[service]\n", "[service]\nstatus_listen = 127.0.0.1:0\n", 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			rep := Run(context.Background(), p, &out, Options{Rows: 100000})
			t.Log("\n" + out.String())
			if !rep.OK() {
				t.Errorf("warnings failed the check: %+v", rep.Failed())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q", w)
				}
			}
		})
	}
}
