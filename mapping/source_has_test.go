package mapping

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSourceHas(t *testing.T) {
	demo, err := LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	src := NewSource(nil, DialectSQLite, demo, SourceOptions{})
	for _, e := range Entities {
		if !src.Has(e) {
			t.Errorf("demo profile on sqlite cannot read %s", e)
		}
	}
	// A custom profile with doctors only: the engine must not poll the rest.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "profile.ini"), []byte("name = doctors-only\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sqlite.sql"), []byte("-- name: doctor.rows\nSELECT 1 AS id, 1 AS branch_id, 1 AS specialty_id, 'a' AS last_name, 'b' AS first_name, NULL AS middle_name, NULL AS snils, 1 AS online_booking, 30 AS slot_minutes;\n"), 0o644)
	p, err := LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	src = NewSource(nil, DialectSQLite, p, SourceOptions{})
	for _, e := range Entities {
		if want := e == EntityDoctor; src.Has(e) != want {
			t.Errorf("Has(%s) = %v, want %v", e, !want, want)
		}
	}
}
