//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package store

import (
	"errors"
	"os"
)

// tryLock: medsync ships for Windows and Linux; elsewhere it refuses to run rather
// than run without the single-instance lock.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("no single-instance lock on this operating system (medsync runs on Windows and Linux)")
}

func unlock(*os.File) error { return nil }
