package daemon

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "medsync/connectors/file"
	"medsync/mapping/demo"
	"medsync/service/config"
)

func loadConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "config.ini")
	ini := "[service]\nname = medsync-clinic\ndisplay_name = medsync — клиника\n\n[mis]\ndriver = sqlite\ndsn = mis.db\n\n[connector.file]\npath = out.jsonl\n"
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	// A relative path, as typed by clinic IT: the service must get the absolute one.
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("config.ini")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServiceConfig(t *testing.T) {
	cfg := loadConfig(t)
	for _, tc := range []struct {
		goos, exe string
		deps      []string
	}{
		{"windows", `C:\medsync\medsync.exe`, nil},
		{"linux", "/opt/medsync/medsync", []string{"After=network-online.target", "Wants=network-online.target"}},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			sc := ServiceConfig(cfg, tc.exe, tc.goos)
			if sc.Name != "medsync-clinic" || sc.DisplayName != "medsync — клиника" {
				t.Errorf("name %q, display name %q", sc.Name, sc.DisplayName)
			}
			if sc.Executable != tc.exe {
				t.Errorf("executable %q", sc.Executable)
			}
			if !filepath.IsAbs(cfg.File) || !reflect.DeepEqual(sc.Arguments, []string{"-c", cfg.File, "run"}) {
				t.Errorf("arguments %q, want -c <absolute %s> run", sc.Arguments, cfg.File)
			}
			if sc.WorkingDirectory != cfg.Dir {
				t.Errorf("working directory %q", sc.WorkingDirectory)
			}
			want := map[string]any{"StartType": "automatic", "OnFailure": "restart", "OnFailureDelayDuration": "10s", "OnFailureResetPeriod": 86400, "Restart": "on-failure"}
			for k, v := range want {
				if sc.Option[k] != v {
					t.Errorf("option %s = %v, want %v", k, sc.Option[k], v)
				}
			}
			if !reflect.DeepEqual(sc.Dependencies, tc.deps) {
				t.Errorf("dependencies %q, want %q", sc.Dependencies, tc.deps)
			}
		})
	}
}

func TestProgramStartsWithoutBlockingAndStopsQuickly(t *testing.T) {
	_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 20, Days: 6, Seed: 3})
	dir := t.TempDir()
	p := filepath.Join(dir, "config.ini")
	ini := "[service]\nstatus_listen = 127.0.0.1:0\n\n[mis]\ndriver = sqlite\ndsn = " + dsn + "\n\n[connector.file]\npath = out.jsonl\n"
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	prog := &Program{Cfg: cfg}
	start := time.Now()
	if err := prog.Start(nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Start took %s", d)
	}
	var code int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + prog.Addr() + "/healthz")
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			if code == http.StatusOK {
				break
			}
		}
	}
	if code != http.StatusOK {
		t.Fatalf("/healthz never turned 200 (last %d)", code)
	}
	// The registrar page is off: a Russian page says so and how to switch it on.
	resp, err := http.Get("http://" + prog.Addr() + "/registrar/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "Страница регистратора выключена") ||
		!strings.Contains(string(body), "[registrar]") || !strings.Contains(string(body), "medsync passwd") {
		t.Errorf("/registrar/ when off: %s\n%s", resp.Status, body)
	}
	start = time.Now()
	if err := prog.Stop(nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > StopTimeout+time.Second {
		t.Errorf("Stop took %s", d)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Service.LogDir, "medsync.log"))
	if err != nil || !strings.Contains(string(data), "medsync service stopped") {
		t.Errorf("log lacks the stop: %v\n%s", err, data)
	}
}

func TestPortInUseStopsStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := loadConfig(t)
	cfg.Service.StatusListen = ln.Addr().String()
	err = (&Program{Cfg: cfg}).Start(nil)
	if err == nil || !strings.Contains(err.Error(), cfg.File+": [service] status_listen") {
		t.Fatalf("want an error naming the file, section and key, got %v", err)
	}
}
