package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLockHelper is not a test of its own: TestSingleInstanceLock runs the test binary
// again with MEDSYNC_LOCK_DIR set; this process then opens the store there, says so
// on stdout and waits to be killed.
func TestLockHelper(t *testing.T) {
	dir := os.Getenv("MEDSYNC_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process for TestSingleInstanceLock")
	}
	s, err := Open(context.Background(), dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	defer s.Close()
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(4)
}

// TestSingleInstanceLock: while a child process has the store open, a second open
// fails at once naming the holder; after the holder is killed with SIGKILL (no
// clean-up of its own), the store opens again.
func TestSingleInstanceLock(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEDSYNC_LOCK_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q %v", line, err)
	}

	_, err = Open(context.Background(), dir)
	if err == nil {
		t.Fatal("a second process opened a locked state store")
	}
	if !errors.Is(err, ErrLocked) || FaultOf(err) != FaultBusy {
		t.Fatalf("error is not ErrLocked: %v", err)
	}
	for _, want := range []string{fmt.Sprintf("pid %d", cmd.Process.Pid), "-test.run=^TestLockHelper$", "started ", "stop the other one first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	// Readers may run alongside.
	ro, err := OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatalf("read-only open beside the holder: %v", err)
	}
	if _, err := ro.Queues(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if err := ro.SetMeta(context.Background(), "k", "v"); err == nil {
		t.Error("a read-only store accepted a write")
	}
	ro.Close()

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	s.Close()
}

// TestLockWithinOneProcess: the lock is per open, so a second Open in the same
// process fails too, and Close gives it back.
func TestLockWithinOneProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	if h := ReadHolder(dir); h.PID != os.Getpid() {
		t.Fatalf("holder %+v", h)
	}
	s.Close()
	s, err = Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
