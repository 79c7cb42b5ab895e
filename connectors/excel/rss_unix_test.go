//go:build unix

package excel

import "syscall"

// peakRSSKiB is the process's peak resident set size (ru_maxrss, KiB on Linux).
func peakRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss)
}
