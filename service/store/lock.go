package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LockFileName is the single-instance lock file inside the state directory.
const LockFileName = "medsync.lock"

// ErrLocked is wrapped by the error of Lock (and of Open) when another process holds
// the state directory.
var ErrLocked = errors.New("the state directory is in use by another medsync process")

// DirLock is an OS-level exclusive lock on a state directory (DESIGN.md, invariant
// 12): flock on Unix, LockFileEx on Windows, on LockFileName. The operating system
// releases it when the process ends in any way, kill -9 and power loss included, so a
// stale lock file never blocks a start. The file holds who took the lock (pid,
// command line, start time), read back for the message a second process prints.
type DirLock struct {
	f    *os.File
	path string
}

// Holder describes the process holding a lock, as written into the lock file.
type Holder struct {
	PID     int
	Command string
	Started time.Time
	Host    string
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "a process that did not say who it is"
	}
	s := fmt.Sprintf("pid %d", h.PID)
	if !h.Started.IsZero() {
		s += ", started " + h.Started.Format("2006-01-02 15:04:05 -07:00")
	}
	if h.Host != "" {
		s += ", host " + h.Host
	}
	if h.Command != "" {
		s += ", command: " + h.Command
	}
	return s
}

// Lock takes the lock of dir (creating the folder when needed) for this process, or
// fails at once, without waiting, with an error wrapping ErrLocked that names the
// holder.
func Lock(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, Classify(fmt.Errorf("state store: cannot create the state directory %s: %w", dir, err))
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, Classify(fmt.Errorf("state store: cannot open the lock file %s: %w", path, err))
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, Classify(fmt.Errorf("state store: cannot lock %s: %w", path, err))
	}
	if !held {
		h := readHolder(path)
		f.Close()
		return nil, fmt.Errorf("%w: %s (%s) is held by %s. Only one medsync may use a state directory at a time: "+
			"stop the other one first (the service: stop.bat or medsync stop), or wait until it finishes; "+
			"the verbs that only read (status, check, dlq list, deletions list, queue list, state check, state backup) may run alongside",
			ErrLocked, dir, LockFileName, h)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid=%d\nstarted=%s\nhost=%s\ncommand=%s\n", os.Getpid(), time.Now().Format(time.RFC3339), host, commandLine())
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
		_ = f.Sync()
	}
	return &DirLock{f: f, path: path}, nil
}

// Release gives the lock back (the file stays: it is harmless without the lock).
func (l *DirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// ReadHolder returns who holds (or last held) the lock of dir, from its lock file.
func ReadHolder(dir string) Holder { return readHolder(filepath.Join(dir, LockFileName)) }

func readHolder(path string) Holder {
	var h Holder
	b, err := os.ReadFile(path)
	if err != nil {
		return h
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), "=")
		if !ok {
			continue
		}
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "started":
			h.Started, _ = time.Parse(time.RFC3339, v)
		case "host":
			h.Host = v
		case "command":
			h.Command = v
		}
	}
	return h
}

// commandLine is this process's command line, the executable by its base name.
func commandLine() string {
	args := append([]string{}, os.Args...)
	if len(args) > 0 {
		args[0] = filepath.Base(args[0])
	}
	return strings.Join(args, " ")
}
