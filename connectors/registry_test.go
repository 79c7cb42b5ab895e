package connectors

import (
	"path/filepath"
	"testing"
)

// TestStateFile: a connector's state file is named after its type, and after the
// instance for a named one, so that two instances never share a file.
func TestStateFile(t *testing.T) {
	dir := filepath.Join("srv", "state")
	for _, c := range []struct{ instance, want string }{
		{"", filepath.Join(dir, "ondoc.db")},
		{"ondoc", filepath.Join(dir, "ondoc.db")},
		{"branch2", filepath.Join(dir, "ondoc-branch2.db")},
	} {
		if got := (Env{StateDir: dir, Instance: c.instance}).StateFile("ondoc"); got != c.want {
			t.Errorf("instance %q: %s, want %s", c.instance, got, c.want)
		}
	}
	if got := (Env{}).StateFile("fer"); got != "fer.db" {
		t.Errorf("no state dir: %s, want fer.db in the working directory", got)
	}
}
