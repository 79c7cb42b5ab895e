package excel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// soffice returns the LibreOffice binary. Outside CI a machine without LibreOffice skips
// the test; in CI (.ci/run installs libreoffice-calc) it is mandatory.
func soffice(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"soffice", "libreoffice"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("LibreOffice (soffice) is not installed; .ci/run installs libreoffice-calc")
	}
	tb.Skip("LibreOffice (soffice) is not installed: apt-get install --no-install-recommends libreoffice-calc")
	return ""
}

// libreOffice converts files with LibreOffice itself (`soffice --headless --convert-to`)
// into outDir and returns the paths of the converted files, in the order given. format
// is "xlsx", "xls", "ods", "pdf", or a LibreOffice filter spec such as
// `csv:Text - txt - csv (StarCalc):59,34,76`. Each call uses its own LibreOffice profile so
// parallel tests do not share one.
func libreOffice(tb testing.TB, format, outDir string, files ...string) []string {
	tb.Helper()
	bin := soffice(tb)
	profile := tb.TempDir()
	args := []string{"-env:UserInstallation=file://" + filepath.ToSlash(profile), "--headless", "--norestore", "--convert-to", format, "--outdir", outDir}
	cmd := exec.Command(bin, append(args, files...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("soffice --convert-to %s: %v\n%s", format, err, out)
	}
	ext := format
	if i := strings.IndexByte(ext, ':'); i >= 0 {
		ext = ext[:i]
	}
	var paths []string
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		p := filepath.Join(outDir, base+"."+ext)
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("soffice did not write %s: %v\n%s", p, err, out)
		}
		paths = append(paths, p)
	}
	return paths
}
