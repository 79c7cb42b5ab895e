//go:build windows

package main

import "os"

// maxRSS is not measured on Windows (the process's peak working set would need
// psapi); the figure is reported as 0.
func maxRSS(ps *os.ProcessState) int64 { return 0 }
