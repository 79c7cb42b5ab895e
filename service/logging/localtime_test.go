package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"medsync/service/config"
)

// Log lines carry the service zone's local time with its offset, as the status page
// and the CLI do, never UTC "Z".
func TestLogTimesAreLocalWithOffset(t *testing.T) {
	dir := t.TempDir()
	cfg := config.WriteForTest(t, dir, "[service]\ntimezone = Asia/Yekaterinburg\nlog_dir = logs\n\n[mis]\ndriver = sqlite\ndsn = mis.db\n")
	var stderr bytes.Buffer
	l, err := New(cfg, Options{Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hello")
	l.Close()
	file, _ := os.ReadFile(filepath.Join(cfg.Service.LogDir, FileName))
	re := regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:00 level=INFO msg=hello`)
	for name, out := range map[string]string{"stderr": stderr.String(), "file": string(file)} {
		if !re.MatchString(out) || strings.Contains(out, "Z level") {
			t.Errorf("%s: %q, want the Yekaterinburg time with +05:00", name, out)
		}
	}
}
