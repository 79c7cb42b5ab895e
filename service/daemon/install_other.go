//go:build !linux

package daemon

import (
	"fmt"
	"os"

	"medsync/service/config"
)

// prepareInstall creates the folders the service writes to before its account first
// runs. On Windows the service runs as LocalSystem (or the account set in the
// Services console), which can write to them.
func prepareInstall(cfg *config.Config) ([]string, error) {
	for _, d := range WritablePaths(cfg) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
	}
	return nil, nil
}

// removeLegacyInit has nothing to remove outside Linux.
func removeLegacyInit(string) []string { return nil }
