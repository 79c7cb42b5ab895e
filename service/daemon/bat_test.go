package daemon

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The .bat files are what clinic IT runs on Windows (double-click or «Запуск от имени
// администратора»). No cmd.exe runs here, so their text is checked: the window waits
// for a key at the end unless started from a console or with /quiet, and the exit code
// survives the pause.
func TestBatFiles(t *testing.T) {
	for _, name := range []string{"install.bat", "start.bat", "stop.bat", "uninstall.bat"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", name))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			if strings.Count(text, "\r\n") != strings.Count(text, "\n") {
				t.Errorf("%s has LF-only lines: cmd.exe needs CRLF (see .gitattributes)", name)
			}
			lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
			// Every exit goes through :end, which pauses when asked and keeps the code.
			exits := 0
			for i, l := range lines {
				l = strings.TrimSpace(l)
				if strings.HasPrefix(strings.ToLower(l), "exit") {
					exits++
					if l != "exit /b %RC%" {
						t.Errorf("%s line %d: %q exits without the :end pause; use set \"RC=…\" & goto :end", name, i+1, l)
					}
				}
			}
			if exits != 1 {
				t.Errorf("%s: %d exit lines, want exactly one (at :end)", name, exits)
			}
			for _, want := range []string{
				`echo %cmdcmdline% | findstr /i /c:"%~nx0" >nul && set "PAUSE_AT_END=1"`,
				`if /i "%~1"=="/quiet" set "PAUSE_AT_END="`,
				":end\nif defined PAUSE_AT_END (\n  echo.\n  pause\n)\nexit /b %RC%",
			} {
				if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), want) {
					t.Errorf("%s lacks %q", name, want)
				}
			}
			// Each failure message is followed by RC=1 before leaving.
			fail := regexp.MustCompile(`(?m)^\s*set "RC=1"\s*$`)
			gotos := regexp.MustCompile(`(?m)^\s*goto :end\s*$`)
			if n, g := len(fail.FindAllString(text, -1)), len(gotos.FindAllString(text, -1)); n == 0 || n != g {
				t.Errorf("%s: %d RC=1 settings for %d goto :end; every early exit must set the failure code", name, n, g)
			}
			if !strings.Contains(text, "Нужны права администратора") {
				t.Errorf("%s does not explain that it needs administrator rights", name)
			}
		})
	}
}
