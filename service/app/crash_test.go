package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
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
	chunk, _ := strconv.Atoi(os.Getenv("MEDSYNC_CRASH_CHUNK"))
	a, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Hooks: hooks, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("the process was meant to die at %s", at)
}

func crash(t *testing.T, cfgPath, at string, chunk int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEDSYNC_CRASH_AT="+at, "MEDSYNC_CRASH_CONFIG="+cfgPath, "MEDSYNC_CRASH_CHUNK="+strconv.Itoa(chunk))
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
		t.Run(at, func(t *testing.T) { crashAndRecover(t, driver, dsn, at, 0, want) })
	}
	// Chunks of 7 records: the first poll commits while it reads, each chunk's events
	// queued as one outbox row per connector batch (store: batch rows), delivered while
	// the read goes on — the crash after a delivery then falls between a batch row's
	// delivery and its acknowledgement.
	t.Run("chunked/clean", func(t *testing.T) {
		dir := t.TempDir()
		p := &pipe{t: t, cfg: writeConfig(t, dir, driver, dsn, ""), out: filepath.Join(dir, "out", "events.jsonl"), chunk: 7}
		p.once()
		if got := keysOf(p.newLines()); strings.Join(got, "\n") != strings.Join(want, "\n") {
			c := map[string]int{}
			for _, k := range got {
				c[k]++
			}
			for k, n := range c {
				if n > 1 {
					t.Logf("dup %d %s", n, k)
				}
			}
			t.Fatalf("chunked run: %d events, want %d (same keys as a run in one chunk)", len(got), len(want))
		}
	})
	for _, at := range []string{"after-read", "after-commit", "after-deliver"} {
		t.Run("chunked/"+at, func(t *testing.T) { crashAndRecover(t, driver, dsn, at, 7, want) })
	}
}

// crashAndRecover kills a first `once` at the crash point, runs it again and checks
// that nothing was lost, that what reached the peer before the crash and was not
// committed is sent again with the same keys, and that an unchanged poll then sends
// nothing.
func crashAndRecover(t *testing.T, driver, dsn, at string, chunk int, want []string) {
	dir := t.TempDir()
	p := &pipe{t: t, cfg: writeConfig(t, dir, driver, dsn, ""), out: filepath.Join(dir, "out", "events.jsonl"), chunk: chunk}
	crash(t, p.cfg.File, at, chunk)
	before := p.newLines()
	if at != "after-deliver" && chunk == 0 && len(before) != 0 {
		t.Fatalf("%d lines delivered before the crash point", len(before))
	}
	if at == "after-deliver" && len(before) == 0 {
		t.Fatal("nothing reached the peer before the crash")
	}
	p.once()
	after := p.newLines()
	all := map[string]bool{}
	for _, k := range append(keysOf(before), keysOf(after)...) {
		all[k] = true
	}
	if len(all) != len(want) {
		t.Fatalf("before+after cover %d distinct events, a clean run %d", len(all), len(want))
	}
	for _, k := range want {
		if !all[k] {
			t.Fatalf("event %s of a clean run was never delivered", k)
		}
	}
	if at == "after-deliver" {
		// The first batch reached the peer but the crash came before its
		// acknowledgement was recorded (queued) or its chunk committed (in the
		// poll): it is sent again with the very same idempotency keys.
		resent := map[string]bool{}
		for _, k := range keysOf(after) {
			resent[k] = true
		}
		for _, k := range keysOf(before) {
			if !resent[k] {
				t.Fatalf("event %s was not resent with the same key after the crash", k)
			}
		}
	} else if chunk == 0 {
		if got := keysOf(after); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("after restart: %d events, want %d (same keys as a clean run)", len(got), len(want))
		}
	}
	// And the state is consistent: an unchanged poll now sends nothing.
	p.once()
	if l := p.newLines(); len(l) != 0 {
		t.Fatalf("unchanged poll after recovery wrote %d lines", len(l))
	}
}
