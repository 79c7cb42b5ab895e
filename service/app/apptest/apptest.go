// Package apptest runs medsync for tests the way an operator does: a real App from a
// config file, as a child process of the test binary that a test can kill with SIGKILL
// at any point and start again, and drained to an empty queue afterwards. Kill-storm
// tests of every connector share it.
package apptest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"medsync/service/app"
	"medsync/service/config"
)

// Quiet is a logger that drops everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Open loads the config at cfgPath and opens an App on it; the caller closes it.
func Open(t testing.TB, cfgPath string) *app.App {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// ChunkEnv, when set, makes the big-read chunks that small (a kill storm then
	// runs the chunked commits and the outbox batch rows on its small MIS).
	chunk, _ := strconv.Atoi(os.Getenv(ChunkEnv))
	a, err := app.Open(context.Background(), cfg, Quiet, app.Options{Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ChunkEnv names the environment variable Open reads the chunk size from (tests).
const ChunkEnv = "MEDSYNC_APPTEST_CHUNK"

// ChildLoop is the body of a helper test that a Child runs: when the environment
// variable env names a config, it opens medsync on it and runs `once` in a loop until
// the process is killed (a failed round is retried, as the service does); otherwise it
// skips, so that a plain `go test` does not run it.
func ChildLoop(t *testing.T, env string) {
	cfgPath := os.Getenv(env)
	if cfgPath == "" {
		t.Skip("helper process of a kill-storm test")
	}
	a := Open(t, cfgPath)
	for {
		if _, err := a.Once(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "once:", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Child is medsync running in a child process of the test binary.
type Child struct {
	cmd *exec.Cmd
}

// Start runs the test binary again with only the helper test named test (whose body is
// ChildLoop(t, env)) and env set to cfgPath.
func Start(t testing.TB, test, env, cfgPath string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &Child{cmd: cmd}
}

// Kill ends the child with SIGKILL (TerminateProcess on Windows) and reaps it: no
// deferred code, no clean shutdown.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill medsync child: %v", err)
	}
	_ = c.cmd.Wait()
}

// Queued counts what a stopped medsync still has to deliver to each connector.
func Queued(t testing.TB, cfgPath string) map[string]int {
	t.Helper()
	a := Open(t, cfgPath)
	defer a.Close()
	out := map[string]int{}
	qs, err := a.Store.Queues(context.Background(), targetNames(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		out[q.Connector] = q.Queued
	}
	return out
}

func targetNames(a *app.App) []string {
	names := make([]string, 0, len(a.Targets))
	for _, tg := range a.Targets {
		names = append(names, tg.Name)
	}
	return names
}

// Drain runs `once` until nothing is queued for any connector (retries included), at
// most rounds times; a dead-lettered event fails the test.
func Drain(t testing.TB, cfgPath string, rounds int) {
	t.Helper()
	a := Open(t, cfgPath)
	defer a.Close()
	ctx := context.Background()
	for i := 0; ; i++ {
		if _, err := a.Once(ctx); err != nil {
			t.Logf("drain round %d: %v", i, err)
		}
		qs, err := a.Store.Queues(ctx, targetNames(a))
		if err != nil {
			t.Fatal(err)
		}
		queued := 0
		for _, q := range qs {
			if q.DeadLetters > 0 {
				t.Fatalf("connector %s dead-lettered events: %s", q.Connector, q.LastError)
			}
			queued += q.Queued
		}
		if queued == 0 {
			return
		}
		if i == rounds {
			t.Fatalf("events still queued after %d rounds: %+v", rounds, qs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
