package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Fault is the kind of a state store failure; each has its own advice, because the
// remedies differ: deleting the file is never the answer to a permission problem.
type Fault int

// Faults, from what an operator can fix without losing anything to what needs a
// restore.
const (
	FaultOther      Fault = iota
	FaultPermission       // the service account may not read or write the file or folder
	FaultBusy             // another process holds the file (or the state directory lock)
	FaultDiskFull         // no space left on the disk of the state directory
	FaultCorrupt          // the file is damaged or is not an SQLite database
)

func (f Fault) String() string {
	switch f {
	case FaultPermission:
		return "permission denied"
	case FaultBusy:
		return "in use by another process"
	case FaultDiskFull:
		return "disk full"
	case FaultCorrupt:
		return "damaged"
	}
	return "error"
}

// Error is a classified state store failure: the underlying error and what it means
// and what to do, for the person reading the log or the console.
type Error struct {
	Fault Fault
	Path  string // the file or folder concerned ("" when unknown)
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() + " — " + e.Advice() }
func (e *Error) Unwrap() error { return e.Err }

// Advice says what the fault means and what to do about it.
func (e *Error) Advice() string {
	where := "the state directory ([service] state_dir)"
	if e.Path != "" {
		where = filepath.Dir(e.Path)
	}
	switch e.Fault {
	case FaultPermission:
		return fmt.Sprintf("state store: permission denied: the account medsync runs as may not read or write %s. "+
			"Give it modify rights on that folder and its files (Windows: Properties → Security; the service runs as LocalSystem unless changed). "+
			"Nothing is damaged: do not delete the store", where)
	case FaultBusy:
		return "state store: in use: another process holds the file (another medsync, or a backup or antivirus program scanning it). " +
			"Stop it, or exclude the state folder from scanning; nothing is damaged, medsync retries"
	case FaultDiskFull:
		return fmt.Sprintf("state store: disk full: no space left for %s. Free space on that disk (old logs, old backups); "+
			"nothing is lost: medsync retries and resumes once writes succeed", where)
	case FaultCorrupt:
		return "state store: the file is damaged. Stop medsync and run `medsync state restore`: it puts back the latest valid backup, " +
			"and the next poll re-derives from the MIS what changed since. Do not delete the file: a store rebuilt from nothing " +
			"re-sends everything and loses the deletions made in the MIS meanwhile (service/README.md, «State store faults»)"
	}
	return "state store: unexpected error; run `medsync state check` and see service/README.md, «State store faults»"
}

// Classify wraps err, when it is not classified yet, as an *Error of the fault it
// shows; nil stays nil.
func Classify(err error) error { return classifyAt("", err) }

func classifyAt(path string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Fault: FaultOf(err), Path: path, Err: err}
}

// Explain classifies err only when it shows a known fault (permission, busy, disk
// full, damage): for errors met while the store runs, where an unknown one (a
// cancelled context, say) needs no advice appended.
func Explain(err error) error {
	if err == nil || FaultOf(err) == FaultOther {
		return err
	}
	return Classify(err)
}

// FaultOf tells the fault an error shows (FaultOther when it is none of the known).
func FaultOf(err error) Fault {
	var e *Error
	if errors.As(err, &e) {
		return e.Fault
	}
	if errors.Is(err, ErrLocked) {
		return FaultBusy
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return FaultCorrupt
		case sqlite3.SQLITE_FULL:
			return FaultDiskFull
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return FaultBusy
		case sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_AUTH:
			return FaultPermission
		case sqlite3.SQLITE_CANTOPEN:
			return FaultPermission // the folder or file cannot be opened: rights, most often
		}
	}
	switch {
	case errors.Is(err, os.ErrPermission):
		return FaultPermission
	case isDiskFull(err):
		return FaultDiskFull
	}
	return FaultOther
}

// isDiskFull recognises ENOSPC and its Windows counterparts (ERROR_HANDLE_DISK_FULL
// 39, ERROR_DISK_FULL 112).
func isDiskFull(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return errno == syscall.ENOSPC || errno == 39 || errno == 112
}
