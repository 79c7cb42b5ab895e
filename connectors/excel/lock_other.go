//go:build !windows

package excel

import "os"

// locked reports whether the file cannot be opened for reading. Unix has no mandatory
// locks; there a file still being written is recognised by its changing size and time
// (see Connector.settled).
func locked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	f.Close()
	return false
}
