//go:build unix

package excel

import "syscall"

// umask returns the process's umask (setting it back at once).
func umask() int {
	old := syscall.Umask(0)
	syscall.Umask(old)
	return old
}
