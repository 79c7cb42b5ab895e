//go:build !unix

package excel

import "time"

func resetPeakRSS() bool { return false }

// peakRSSKiB is not measured on this platform.
func peakRSSKiB() int64 { return 0 }

func cpuTime() time.Duration { return 0 }
