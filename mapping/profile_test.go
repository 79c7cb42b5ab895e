package mapping_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medsync/mapping"
)

// writeProfile writes a profile folder: files maps file names to contents.
func writeProfile(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "custom")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := files["profile.ini"]; !ok {
		files["profile.ini"] = "name = custom\n"
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestShippedProfilesLoad(t *testing.T) {
	for _, name := range []string{"demo", "views"} {
		p, err := mapping.LoadProfile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Name != name || p.Origin != "embedded" || p.Description == "" {
			t.Errorf("%s: name %q origin %q description %q", name, p.Name, p.Origin, p.Description)
		}
		for _, d := range mapping.Dialects {
			stmts := p.Statements(d)
			names := map[string]bool{}
			for _, s := range stmts {
				names[s.Name] = true
				// Every read statement renders with the window and key parameters.
				params := map[string]any{"from": nil, "to": nil, "from_date": "", "to_date": "", "from_ole": 0.0, "to_ole": 0.0, "keys": []string{"1"}}
				if strings.HasSuffix(s.Name, ".changed") {
					params["since"], params["since_ole"], params["since_text"] = nil, 0.0, ""
				}
				if strings.HasPrefix(s.Name, "write.") || strings.HasPrefix(s.Name, "read.") {
					params = map[string]any{}
					for _, n := range mapping.StatementParams(d, s.SQL) {
						params[n] = 1
					}
				}
				if _, _, err := mapping.RenderSQL(d, s.SQL, params); err != nil {
					t.Errorf("%s %s %s: %v", name, d, s.Name, err)
				}
			}
			for _, want := range []string{"branch.rows", "specialty.rows", "doctor.rows", "service.rows", "patient.rows",
				"patient.versions", "patient.by_keys", "shift.rows", "shift.by_keys", "appointment.rows",
				"appointment.versions", "appointment.by_keys", "slot.busy"} {
				if !names[want] {
					t.Errorf("profile %s, dialect %s: no %s", name, d, want)
				}
			}
		}
	}
	names := mapping.ProfileNames()
	if strings.Join(names, ",") != "demo,views" {
		t.Errorf("ProfileNames = %v", names)
	}
}

// TestCommonStatements: common.sql serves every dialect; a dialect's own statement of
// the same name wins.
func TestCommonStatements(t *testing.T) {
	dir := writeProfile(t, map[string]string{
		"profile.ini":      "name = portable\n",
		"common.sql":       "-- name: specialty.rows\nSELECT 1 AS id, 'a' AS name, NULL AS code\n-- name: branch.rows\nSELECT 1 AS id\n",
		"common.extra.sql": "-- name: doctor.rows\nSELECT 2 AS id\n",
		"sqlserver.sql":    "-- name: specialty.rows\nSELECT TOP (1) 1 AS id, N'a' AS name, NULL AS code\n",
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range mapping.Dialects {
		q, ok := p.Statement(d, "specialty.rows")
		if !ok {
			t.Fatalf("%s: no specialty.rows", d)
		}
		if want := d == mapping.DialectSQLServer; strings.Contains(q, "TOP (1)") != want {
			t.Errorf("%s: specialty.rows = %q", d, q)
		}
		if _, ok := p.Statement(d, "doctor.rows"); !ok {
			t.Errorf("%s: common.extra.sql not applied", d)
		}
	}
	if got := strings.Join(p.Dialects(), ","); got != "firebird,mysql,postgres,sqlite,sqlserver" {
		t.Errorf("Dialects = %s (common is not a dialect)", got)
	}
}

func TestLoadProfileFromFolder(t *testing.T) {
	dir := writeProfile(t, map[string]string{
		"profile.ini":        "name = mymis\ndescription = test\n[appointment]\nconvert.date = ole_date\nmap.status = 0:booked, 9:cancelled\n",
		"sqlite.sql":         "-- comment before the first statement is fine\n\n-- name: specialty.rows\nSELECT 1 AS id, 'a' AS name, NULL AS code;\n",
		"sqlite.booking.sql": "-- name: write.booking\nINSERT INTO T (A) VALUES (:a)\n",
		"postgres.sql":       "-- name: specialty.rows\nSELECT 1 AS id, 'a' AS name, NULL AS code\n",
		"README.md":          "not read",
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mymis" || p.Origin != dir {
		t.Errorf("name %q origin %q", p.Name, p.Origin)
	}
	if q, ok := p.Statement("sqlite", "specialty.rows"); !ok || q != "SELECT 1 AS id, 'a' AS name, NULL AS code" {
		t.Errorf("specialty.rows = %q, %v (trailing ';' must be trimmed)", q, ok)
	}
	if _, ok := p.Statement("sqlite", "write.booking"); !ok {
		t.Error("write.booking from sqlite.booking.sql not loaded")
	}
	if _, ok := p.Statement("mysql", "specialty.rows"); ok {
		t.Error("mysql has no statements")
	}
	if got := p.Dialects(); strings.Join(got, ",") != "postgres,sqlite" {
		t.Errorf("Dialects = %v", got)
	}
	// A statement missing for the dialect is an error only when used.
	src := mapping.NewSource(nil, "mysql", p, mapping.SourceOptions{})
	err = src.ReadAll(context.Background(), "appointment", mapping.Window{}, nil, nil)
	if err == nil || err.Error() != "profile mymis has no statement appointment.rows for dialect mysql" {
		t.Errorf("missing statement: %v", err)
	}
}

func TestLoadProfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"unknown section", map[string]string{"profile.ini": "[appointments]\n"}, []string{"profile.ini", "unknown section [appointments]"}},
		{"unknown column", map[string]string{"profile.ini": "[appointment]\nconvert.dat = ole_date\n"}, []string{"[appointment] convert.dat", `unknown column "dat"`, "start_time"}},
		{"unknown converter", map[string]string{"profile.ini": "[appointment]\nconvert.date = ole\n"}, []string{`unknown converter "ole"`, "ole_date"}},
		{"converter does not apply", map[string]string{"profile.ini": "[patient]\nconvert.last_name = day_fraction\n"}, []string{"day_fraction does not apply to last_name"}},
		{"bad code", map[string]string{"profile.ini": "[appointment]\nmap.status = 0:done\n"}, []string{"map.status", `"done"`, "booked"}},
		{"bad map entry", map[string]string{"profile.ini": "[appointment]\nmap.source = registry\n"}, []string{"map.source", "<MIS value>:<canonical value>"}},
		{"duplicate map entry", map[string]string{"profile.ini": "[appointment]\nmap.source = 1:phone, 1:online\n"}, []string{`"1" is mapped twice`}},
		{"bad default", map[string]string{"profile.ini": "[shift]\ndefault.slot_minutes = half an hour\n"}, []string{"default.slot_minutes", "not a whole number"}},
		{"unknown key kind", map[string]string{"profile.ini": "[shift]\nconvrt.date = ole_date\n"}, []string{`unknown key kind "convrt"`}},
		{"top-level key", map[string]string{"profile.ini": "dialect = mssql\n"}, []string{`key "dialect" at the top`}},
		{"slot section keys", map[string]string{"profile.ini": "[slot]\ndefault.slot_minutes = 15\n"}, []string{"[slot]"}},
		{"unknown entity statement", map[string]string{"sqlite.sql": "-- name: doctors.rows\nSELECT 1\n"}, []string{"sqlite.sql line 1", `unknown entity "doctors"`}},
		{"unknown statement kind", map[string]string{"sqlite.sql": "-- name: doctor.all\nSELECT 1\n"}, []string{`unknown statement kind "all"`}},
		{"slot statement", map[string]string{"sqlite.sql": "-- name: slot.rows\nSELECT 1\n"}, []string{"slot.busy"}},
		{"bad statement name", map[string]string{"sqlite.sql": "-- name: Doctor\nSELECT 1\n"}, []string{`statement name "Doctor"`}},
		{"SQL before header", map[string]string{"sqlite.sql": "SELECT 1;\n-- name: doctor.rows\nSELECT 1\n"}, []string{"sqlite.sql line 1", "before the first"}},
		{"empty statement", map[string]string{"sqlite.sql": "-- name: doctor.rows\n\n-- name: branch.rows\nSELECT 1\n"}, []string{"sqlite.sql line 1", "doctor.rows is empty"}},
		{"duplicate in one file", map[string]string{"sqlite.sql": "-- name: doctor.rows\nSELECT 1\n-- name: doctor.rows\nSELECT 2\n"}, []string{"doctor.rows is defined twice", "sqlite.sql line 1", "sqlite.sql line 3"}},
		{"duplicate across files", map[string]string{
			"sqlite.sql":         "-- name: write.booking\nSELECT 1\n",
			"sqlite.booking.sql": "-- name: write.booking\nSELECT 2\n",
		}, []string{"write.booking is defined twice for dialect sqlite", "sqlite.booking.sql line 1", "sqlite.sql line 1"}},
		{"versions without by_keys", map[string]string{"sqlite.sql": "-- name: appointment.versions\nSELECT 1 AS id, 1 AS version\n"}, []string{"appointment.versions", "appointment.by_keys"}},
		{"no profile.ini", map[string]string{"profile.ini": ""}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeProfile(t, tt.files)
			if tt.name == "no profile.ini" {
				os.Remove(filepath.Join(dir, "profile.ini"))
				tt.want = []string{"profile.ini"}
			}
			_, err := mapping.LoadProfile(dir)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := mapping.LoadProfile("nosuchprofile"); err == nil || !strings.Contains(err.Error(), "demo, views") {
		t.Errorf("unknown profile: %v", err)
	}
	f := filepath.Join(t.TempDir(), "profile.ini")
	os.WriteFile(f, nil, 0o644)
	if _, err := mapping.LoadProfile(f); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("file as profile: %v", err)
	}
}

func TestContractColumns(t *testing.T) {
	cols, ok := mapping.ContractColumns("appointment.by_keys")
	if !ok || len(cols) != 14 || cols[0] != "id" || cols[13] != "external_id" {
		t.Errorf("appointment.by_keys: %v %v", cols, ok)
	}
	if cols, ok := mapping.ContractColumns("patient.versions"); !ok || strings.Join(cols, ",") != "id,version" {
		t.Errorf("patient.versions: %v", cols)
	}
	if cols, ok := mapping.ContractColumns("slot.busy"); !ok || strings.Join(cols, ",") != "doctor_id,date,start_time,end_time" {
		t.Errorf("slot.busy: %v", cols)
	}
	if _, ok := mapping.ContractColumns("write.booking"); ok {
		t.Error("write statements have no contract")
	}
}
