//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kardianos/service"
)

// Without systemd, install refuses with the reason and what to do instead, and
// uninstall removes what an older medsync's SysV script left behind.
func TestNoSystemdRefused(t *testing.T) {
	if service.ChosenSystem().String() == "linux-systemd" {
		t.Skip("this machine runs systemd: the refusal cannot be observed here")
	}
	cfg := unitConfig(t, "")
	for _, action := range []string{"install", "start", "stop"} {
		_, err := Control(cfg, action)
		if !errors.Is(err, ErrNoServiceManager) || !strings.Contains(err.Error(), "medsync -c <config.ini> run") {
			t.Errorf("%s without systemd: %v", action, err)
		}
	}
	if _, err := os.Stat(filepath.Join("/etc/init.d", cfg.Service.Name)); err == nil {
		t.Skip("/etc/init.d/" + cfg.Service.Name + " exists on this machine: not touching it")
	}
	if st, _ := State(cfg); !strings.HasPrefix(st, "not available") {
		t.Errorf("state without systemd: %q", st)
	}
}

func TestRemoveLegacyInit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to write /etc/init.d")
	}
	name := fmt.Sprintf("medsync-legacy-%d", time.Now().UnixNano()%1e6)
	script := filepath.Join("/etc/init.d", name)
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Skipf("cannot write %s: %v", script, err)
	}
	var links []string
	for _, l := range []string{"/etc/rc2.d/S01" + name, "/etc/rc0.d/K01" + name} {
		if os.Symlink(script, l) == nil {
			links = append(links, l)
		}
	}
	removed := removeLegacyInit(name)
	for _, p := range append(links, script) {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s left behind (removed: %q)", p, removed)
		}
	}
	if len(removed) != len(links)+1 {
		t.Errorf("removed %q", removed)
	}
}

// install creates the service account, gives it the state and log folders and lets
// it read config.ini while others cannot.
func TestPrepareInstallAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create accounts")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd is not installed")
	}
	name := fmt.Sprintf("mstest%d", time.Now().UnixNano()%1e6)
	cfg := unitConfig(t, "user = "+name+"\n")
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	if err := os.MkdirAll(cfg.Service.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(cfg.Service.StateDir, "state.db") // made by an earlier `once` as root
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notes, err := prepareInstall(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("account not created: %v (notes %q)", err, notes)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range []string{cfg.Service.StateDir, old, cfg.Service.LogDir, filepath.Join(cfg.Dir, "out"), filepath.Join(cfg.Dir, "demo")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Errorf("%s is owned by uid %d, want %s (%d)", p, st.Uid, name, uid)
		}
	}
	fi, _ := os.Stat(cfg.File)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid || fi.Mode().Perm() != 0o640 {
		t.Errorf("config.ini: gid %d mode %v, want group %s and 0640", st.Gid, fi.Mode().Perm(), name)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "created the system account") {
		t.Errorf("notes: %q", notes)
	}
}
