package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "medsync/connectors/file"
	"medsync/service/config"
)

func unitConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "Medsync 100%")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.ini")
	ini := "[service]\nname = medsync\n" + extra + "\n[mis]\ndriver = sqlite\ndsn = demo/demo.db\n\n[connector.file]\npath = out/events.jsonl\n"
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSystemdUnit(t *testing.T) {
	cfg := unitConfig(t, "read_write_paths = /srv/exchange\n")
	exe := "/opt/medsync/medsync"
	unit := SystemdUnit(cfg, exe)
	q := func(p string) string { return unitQuote("-" + p) }
	for _, want := range []string{
		"User=medsync\nGroup=medsync\n",
		"Restart=on-failure\nRestartSec=10\n",
		"StartLimitIntervalSec=0\n",
		"NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n",
		"ProtectHome=read-only\n",
		"EnvironmentFile=-/etc/default/medsync\n",
		"ExecStart=/opt/medsync/medsync -c " + unitQuote(cfg.File) + " run\n",
		"ReadWritePaths=",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "RestartSec=120") {
		t.Error("unit keeps kardianos' RestartSec=120")
	}
	var rw string
	for _, l := range strings.Split(unit, "\n") {
		if strings.HasPrefix(l, "ReadWritePaths=") {
			rw = l
		}
	}
	// The folder holds a space and a '%': quoted, with the specifier doubled.
	if !strings.Contains(cfg.File, "100%") || !strings.Contains(unit, "100%%") {
		t.Errorf("'%%' in paths must be doubled for systemd:\n%s", unit)
	}
	for _, d := range []string{cfg.Service.StateDir, cfg.Service.LogDir, filepath.Join(cfg.Dir, "out"), filepath.Join(cfg.Dir, "demo"), "/srv/exchange"} {
		if !strings.Contains(rw, q(d)) {
			t.Errorf("ReadWritePaths lacks %s: %s", q(d), rw)
		}
	}
	sc := ServiceConfig(cfg, exe, "linux")
	if sc.Option["SystemdScript"] != unit || sc.UserName != "medsync" {
		t.Errorf("ServiceConfig does not carry the unit (user %q)", sc.UserName)
	}
	if w := ServiceConfig(cfg, `C:\medsync\medsync.exe`, "windows"); w.Option["SystemdScript"] != nil || w.UserName != "" {
		t.Error("the Windows service got a systemd unit or a Linux account")
	}

	root := SystemdUnit(unitConfig(t, "user = root\n"), exe)
	if strings.Contains(root, "User=") || !strings.Contains(root, "ProtectSystem=strict") {
		t.Errorf("user = root: want no User= and the sandbox kept:\n%s", root)
	}
	if _, err := config.Load(writeINI(t, "[service]\nuser = Bad User\n[mis]\ndriver = sqlite\ndsn = x.db\n")); err == nil || !strings.Contains(err.Error(), "user") {
		t.Errorf("a bad account name: %v", err)
	}
}

// systemd's own checker reads the unit where it is installed (skipped without it).
func TestSystemdUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	cfg := unitConfig(t, "user = root\n")
	exe, _ := os.Executable()
	p := filepath.Join(t.TempDir(), "medsync-test.service")
	if err := os.WriteFile(p, []byte(SystemdUnit(cfg, exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "medsync-test.service:") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func writeINI(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "config.ini")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
