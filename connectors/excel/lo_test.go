package excel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
// `csv:Text - txt - csv (StarCalc):44,34,34`. Each conversion uses its own LibreOffice
// profile so parallel tests do not share one.
func libreOffice(tb testing.TB, format, outDir string, files ...string) []string {
	tb.Helper()
	soffice(tb)
	var paths []string
	for _, f := range files {
		p, err := loConvert(f, format, outDir)
		if err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// libreOfficeAll converts src into every format at once (one LibreOffice per format, in
// parallel) and returns format → converted path.
func libreOfficeAll(tb testing.TB, src, outDir string, formats ...string) map[string]string {
	tb.Helper()
	soffice(tb)
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan string, len(formats))
	for _, f := range formats {
		wg.Add(1)
		go func(format string) {
			defer wg.Done()
			dir := filepath.Join(outDir, strings.NewReplacer(":", "_", " ", "_").Replace(format))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				errs <- err.Error()
				return
			}
			p, err := loConvert(src, format, dir)
			if err != nil {
				errs <- err.Error()
				return
			}
			mu.Lock()
			out[format] = p
			mu.Unlock()
		}(f)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		tb.Fatal(e)
	}
	return out
}

// loConvert runs one soffice conversion with its own profile.
func loConvert(src, format, outDir string) (string, error) {
	bin, err := exec.LookPath("soffice")
	if err != nil {
		return "", err
	}
	profile, err := os.MkdirTemp("", "medsync-lo-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(profile)
	cmd := exec.Command(bin, "-env:UserInstallation=file://"+filepath.ToSlash(profile), "--headless", "--norestore", "--convert-to", format, "--outdir", outDir, src)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("soffice --convert-to %s %s: %v\n%s", format, src, err, msg)
	}
	ext := format
	if i := strings.IndexByte(ext, ':'); i >= 0 {
		ext = ext[:i]
	}
	p := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+"."+ext)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("soffice did not write %s: %v\n%s", p, err, msg)
	}
	return p, nil
}
