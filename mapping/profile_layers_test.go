package mapping_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medsync/mapping"
	"medsync/mapping/demo"
)

// TestExtendsViews: a custom profile extends the shipped views profile and overrides
// only the statement it needs; everything else (statements of every dialect,
// profile.ini keys) comes from views.
func TestExtendsViews(t *testing.T) {
	dir := writeProfile(t, map[string]string{
		"profile.ini": "name = myviews\nextends = views\n[appointment]\nmap.status = 7:booked\nmap.status.* = booked\n",
		"common.sql":  "-- name: shift.rows\nSELECT * FROM MY_SHIFTS(:from_date, :to_date)\n",
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	views, _ := mapping.LoadProfile("views")
	for _, d := range mapping.Dialects {
		if q, _ := p.Statement(d, "shift.rows"); !strings.Contains(q, "MY_SHIFTS") {
			t.Errorf("%s: shift.rows = %q, want the override", d, q)
		}
		for _, name := range []string{"appointment.rows", "patient.by_keys", "slot.busy"} {
			got, ok := p.Statement(d, name)
			want, _ := views.Statement(d, name)
			if !ok || got != want {
				t.Errorf("%s %s: %q, want views' %q", d, name, got, want)
			}
		}
	}
	for _, st := range p.Statements(mapping.DialectPostgres) {
		if st.Name == "appointment.rows" && (st.Profile != "views" || st.File != "views/common.sql") {
			t.Errorf("inherited statement from %q, file %q", st.Profile, st.File)
		}
	}
}

// TestExtendsFolderAndFragments: a profile extends another folder, overrides one
// fragment that the base's statements include, and a fragment includes a fragment.
func TestExtendsFolderAndFragments(t *testing.T) {
	root := t.TempDir()
	write := func(dir string, files map[string]string) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(root, dir, n), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("base", map[string]string{
		"profile.ini": "name = base\n[shift]\nconvert.date = ole_date\ndefault.slot_minutes = 20\n",
		"common.sql": `-- fragment: shift_days
SELECT * FROM RULES r JOIN DAYS d ON {{matches}}
-- fragment: matches
d.WD = r.WD
-- name: shift.rows
{{shift_days}} WHERE d.D >= :from_ole
-- name: shift.by_keys
{{ shift_days }} WHERE r.ID IN (:keys)
`,
	})
	write("clinic", map[string]string{
		"profile.ini":  "name = clinic\nextends = ../base\n[shift]\ndefault.slot_minutes = 15\n",
		"postgres.sql": "-- fragment: matches\nd.WD = r.WD AND r.ACTIVE\n",
	})
	p, err := mapping.LoadProfile(filepath.Join(root, "clinic"))
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := p.Statement(mapping.DialectSQLite, "shift.rows"); q != "SELECT * FROM RULES r JOIN DAYS d ON d.WD = r.WD WHERE d.D >= :from_ole" {
		t.Errorf("sqlite shift.rows = %q", q)
	}
	if q, _ := p.Statement(mapping.DialectPostgres, "shift.by_keys"); q != "SELECT * FROM RULES r JOIN DAYS d ON d.WD = r.WD AND r.ACTIVE WHERE r.ID IN (:keys)" {
		t.Errorf("postgres shift.by_keys = %q (the clinic's fragment must win)", q)
	}

	for name, files := range map[string]map[string]string{
		"unknown fragment": {"common.sql": "-- name: branch.rows\nSELECT {{cols}} FROM B\n"},
		"cycle":            {"common.sql": "-- fragment: a\n{{b}}\n-- fragment: b\n{{a}}\n-- name: branch.rows\nSELECT {{a}}\n"},
		"bad name":         {"common.sql": "-- fragment: a.b\nx\n"},
		"extends nothing":  {"profile.ini": "name = x\nextends = nosuch\n"},
		"extends itself":   {"profile.ini": "name = x\nextends = .\n"},
	} {
		dir := writeProfile(t, files)
		_, err := mapping.LoadProfile(dir)
		want := map[string]string{"unknown fragment": `common.sql line 1: statement branch.rows: {{cols}}: no fragment cols`,
			"cycle": "includes itself", "bad name": "common.sql line 1: fragment name", "extends nothing": "extends = nosuch",
			"extends itself": "circle"}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

// TestViewsErrorsNameTheView: a views user has the views, not the profile's files; an
// error named "common.sql line 40" pointed at a file they do not have.
func TestViewsErrorsNameTheView(t *testing.T) {
	db, _, _ := demo.TestDB(t, demo.SQLite)
	if _, err := db.Exec(`CREATE VIEW MEDSYNC_SPECIALTY AS SELECT 1 AS id, 'Терапия' AS name`); err != nil {
		t.Fatal(err)
	}
	p, err := mapping.LoadProfile("views")
	if err != nil {
		t.Fatal(err)
	}
	src := mapping.NewSource(db, mapping.DialectSQLite, p, mapping.SourceOptions{})
	for entity, want := range map[string][]string{
		mapping.EntitySpecialty: {"view MEDSYNC_SPECIALTY", "code"},
		mapping.EntityBranch:    {"view MEDSYNC_BRANCH", "MEDSYNC_BRANCH"},
	} {
		err := src.ReadAll(context.Background(), entity, mapping.Window{}, func(mapping.Item) error { return nil }, nil)
		if err == nil {
			t.Fatalf("%s: no error", entity)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v does not name %s", entity, err, w)
			}
		}
		if strings.Contains(err.Error(), "common.sql") {
			t.Errorf("%s: %v names a file the views user does not have", entity, err)
		}
	}
}
