package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medsync/service/config"
	"medsync/service/store"
)

// TestCheckReportsBackups: check says where the newest backup is and how old, and
// warns when it is older than two backup intervals or backups are off.
func TestCheckReportsBackups(t *testing.T) {
	dir := t.TempDir()
	cfg := config.WriteForTest(t, dir, "[service]\nstate_dir = state\nbackup_every = 1h\n[mis]\ndriver = sqlite\ndsn = demo.db\nprofile = demo\n")
	var out strings.Builder
	c := &checker{w: &out, rep: &Report{}}
	c.backups(cfg)
	if !strings.Contains(out.String(), "✓ state store backups: none yet") {
		t.Fatalf("fresh install:\n%s", out.String())
	}
	st, err := store.OpenWith(context.Background(), cfg.Service.StateDir, store.Options{Backup: store.BackupOptions{Dir: cfg.Service.BackupDir}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Backup(context.Background(), "scheduled")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	c.backups(cfg)
	if !strings.Contains(out.String(), "✓ state store backups: newest "+filepath.Base(b.Path)) {
		t.Fatalf("after a backup:\n%s", out.String())
	}
	// Three hours old, with backups every hour: a warning.
	old := filepath.Join(cfg.Service.BackupDir, "medsync-state-"+time.Now().UTC().Add(-3*time.Hour).Format("20060102T150405.000Z")+"-scheduled.db")
	if err := os.Rename(b.Path, old); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	c.backups(cfg)
	if !strings.Contains(out.String(), "! state store backups: newest") || !strings.Contains(out.String(), "is it running?") {
		t.Fatalf("stale backup:\n%s", out.String())
	}
	cfg.Service.BackupEvery = 0
	out.Reset()
	c.backups(cfg)
	if !strings.Contains(out.String(), "! state store backups: [service] backup_every = 0") {
		t.Fatalf("backups off:\n%s", out.String())
	}
}
