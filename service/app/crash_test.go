package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"medsync/mapping/demo"
	"medsync/service/config"
	"medsync/service/engine"
)

// TestCrashHelper is not a test of its own: TestCrashSafety runs the test binary again
// with MEDSYNC_CRASH_AT set, and this process then dies (os.Exit, no clean shutdown,
// no deferred code) at the named point of a `once`.
func TestCrashHelper(t *testing.T) {
	at := os.Getenv("MEDSYNC_CRASH_AT")
	if at == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	cfg, err := config.Load(os.Getenv("MEDSYNC_CRASH_CONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	die := func(point string) func(string) {
		return func(string) {
			if at == point {
				os.Exit(3)
			}
		}
	}
	hooks := engine.Hooks{AfterRead: die("after-read"), AfterCommit: die("after-commit"), AfterDeliver: die("after-deliver")}
	a, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("the process was meant to die at %s", at)
}

func crash(t *testing.T, cfgPath, at string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEDSYNC_CRASH_AT="+at, "MEDSYNC_CRASH_CONFIG="+cfgPath)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("helper did not die at %s: %v\n%s", at, err, out)
	}
}

func keysOf(lines []line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Entity+"|"+l.Op+"|"+l.Key+"|"+l.IdempotencyKey)
	}
	sort.Strings(out)
	return out
}

// TestCrashSafety kills the process between reading and committing, between
// committing and delivering, and between delivering and recording the delivery. After
// a restart nothing is lost, and what is sent again carries the same idempotency keys.
func TestCrashSafety(t *testing.T) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	sizes := demo.Sizes{Branches: 1, Doctors: 3, Patients: 40, Appointments: 60, Days: 10, Today: time.Now().In(msk), Seed: 3}

	// Reference: one clean run over the same data.
	_, driver, dsn, _ := demo.TestMIS(t, demo.SQLite, sizes)
	refDir := t.TempDir()
	ref := &pipe{t: t, cfg: writeConfig(t, refDir, driver, dsn, ""), out: filepath.Join(refDir, "out", "events.jsonl")}
	ref.once()
	want := keysOf(ref.newLines())
	if len(want) == 0 {
		t.Fatal("reference run sent nothing")
	}

	for _, at := range []string{"after-read", "after-commit", "after-deliver"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			p := &pipe{t: t, cfg: writeConfig(t, dir, driver, dsn, ""), out: filepath.Join(dir, "out", "events.jsonl")}
			crash(t, p.cfg.File, at)
			before := p.newLines()
			if at != "after-deliver" && len(before) != 0 {
				t.Fatalf("%d lines delivered before the crash point", len(before))
			}
			p.once()
			after := p.newLines()
			if got := keysOf(after); strings.Join(got, "\n") != strings.Join(want, "\n") {
				if at != "after-deliver" {
					t.Fatalf("after restart: %d events, want %d (same keys as a clean run)", len(got), len(want))
				}
			}
			if at == "after-deliver" {
				// The first batch reached the peer but its acknowledgement was lost:
				// it is sent again with the very same idempotency keys.
				if len(before) == 0 {
					t.Fatal("nothing reached the peer before the crash")
				}
				resent := map[string]bool{}
				for _, k := range keysOf(after) {
					resent[k] = true
				}
				for _, k := range keysOf(before) {
					if !resent[k] {
						t.Fatalf("event %s was not resent with the same key after the crash", k)
					}
				}
				all := map[string]bool{}
				for _, k := range append(keysOf(before), keysOf(after)...) {
					all[k] = true
				}
				if len(all) != len(want) {
					t.Fatalf("before+after cover %d distinct events, a clean run %d", len(all), len(want))
				}
			}
			// And the state is consistent: an unchanged poll now sends nothing.
			p.once()
			if l := p.newLines(); len(l) != 0 {
				t.Fatalf("unchanged poll after recovery wrote %d lines", len(l))
			}
		})
	}
}
