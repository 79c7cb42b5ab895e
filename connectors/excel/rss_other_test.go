//go:build !unix

package excel

// peakRSSKiB is not measured on this platform.
func peakRSSKiB() int64 { return 0 }
