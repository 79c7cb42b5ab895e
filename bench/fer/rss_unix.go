//go:build !windows

package main

import (
	"os"
	"syscall"
)

// maxRSS is the child's peak resident set size in bytes (ru_maxrss is in KiB on Linux).
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024
	}
	return 0
}
