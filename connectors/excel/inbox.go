package excel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"medsync/connectors"
)

// importJob is one settled inbox file waiting for the worker.
type importJob struct {
	log  *slog.Logger
	w    connectors.MISWriter
	o    *orgConfig
	path string
}

// pollInbox queues every settled file of the organization's inbox. Excel's owner files
// (~$name) and hidden files are left alone (logged once); every other file is taken:
// one that is not a staff list gets a result saying so.
func (c *Connector) pollInbox(ctx context.Context, log *slog.Logger, w connectors.MISWriter, o *orgConfig) error {
	entries, err := os.ReadDir(o.Inbox)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if err := ensureDir(o.Inbox); err != nil {
				log.Error("inbox folder missing and cannot be created", "org", o.Code, "inbox", o.Inbox, "err", err)
			}
			return nil
		}
		log.Error("cannot read inbox folder", "org", o.Code, "inbox", o.Inbox, "err", err)
		return nil
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() && (n == "done" || n == "failed") {
			continue
		}
		if e.IsDir() || strings.HasPrefix(n, "~$") || strings.HasPrefix(n, ".") {
			path := filepath.Join(o.Inbox, n)
			if !c.skipped[path] {
				c.skipped[path] = true
				log.Warn("inbox entry left alone: a folder, an Excel owner file (~$) or a hidden file; staff lists must be files directly in the inbox",
					"org", o.Code, "entry", path)
			}
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		path := filepath.Join(o.Inbox, name)
		c.mu.Lock()
		busy := c.queued[path]
		c.mu.Unlock()
		if busy {
			continue
		}
		if !c.settled(path) {
			log.Debug("file still being written; next round", "file", path)
			continue
		}
		c.enqueue(importJob{log: log, w: w, o: o, path: path})
	}
	return nil
}

func (c *Connector) enqueue(j importJob) {
	c.mu.Lock()
	c.queued[j.path] = true
	c.queue = append(c.queue, j)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// worker imports queued files one at a time, each within import_timeout, until Close.
func (c *Connector) worker() {
	defer close(c.done)
	defer func() { // whoever waits for the queue is let go
		c.mu.Lock()
		c.queue = nil
		c.idle.Broadcast()
		c.mu.Unlock()
	}()
	for {
		c.mu.Lock()
		for len(c.queue) == 0 {
			c.idle.Broadcast()
			c.mu.Unlock()
			select {
			case <-c.bg.Done():
				return
			case <-c.wake:
			}
			c.mu.Lock()
		}
		j := c.queue[0]
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(c.bg, c.cfg.Timeout)
		restore := lowerGC()
		err := c.importFile(ctx, j.log, j.w, j.o, j.path)
		restore()
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		if timedOut && c.bg.Err() == nil {
			c.timedOut(j)
			err = nil
		}
		if err != nil && c.bg.Err() == nil {
			j.log.Error("import stopped: the connector's state file failed; the file stays in the inbox", "file", j.path, "err", err)
		}
		c.mu.Lock()
		c.queue = c.queue[1:]
		delete(c.queued, j.path)
		if err != nil && c.bg.Err() == nil {
			c.failure = err
		}
		c.mu.Unlock()
		if c.bg.Err() != nil {
			return
		}
	}
}

// importGCPercent is the garbage collector's target while an import runs: a
// 50,000-row list keeps 40-60 MB of parsed rows live until its result is written, and
// the default (100) let the process grow to 165-180 MB.
const importGCPercent = 45

// lowerGC sets the collector's target for an import (unless it is lower already) and
// returns the function that puts the previous one back.
func lowerGC() func() {
	prev := debug.SetGCPercent(importGCPercent)
	if prev >= 0 && prev < importGCPercent {
		debug.SetGCPercent(prev)
		return func() {}
	}
	return func() { debug.SetGCPercent(prev) }
}

// timedOut moves a file whose import took longer than import_timeout to failed/.
func (c *Connector) timedOut(j importJob) {
	if _, err := os.Stat(j.path); err != nil {
		return // it was moved after all
	}
	info := resultInfo{Source: filepath.Base(j.path), Org: j.o, At: c.now().In(c.cfg.Zone),
		Message: fmt.Sprintf("Файл не обработан за %s — ничего не загружено. Разделите список на несколько файлов поменьше и положите их снова.", ruDuration(c.cfg.Timeout))}
	j.log.Warn("import took longer than import_timeout; nothing was written, file moved to failed", "org", j.o.Code, "file", j.path, "import_timeout", c.cfg.Timeout)
	c.finish(j.log, j.o, j.path, "failed", info, nil)
}

func ruDuration(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d мин", int(d/time.Minute))
	}
	return fmt.Sprintf("%d с", int(d.Round(time.Second)/time.Second))
}

// wait blocks until the worker has nothing queued (tests and Close-less callers).
func (c *Connector) wait() {
	c.mu.Lock()
	for len(c.queue) > 0 {
		c.idle.Wait()
	}
	c.mu.Unlock()
}

// settled reports whether a file is complete: its size and time are the same as in the
// previous round (or it has not changed for `settle`), and — on Windows — no other
// program holds it open (Excel locks a workbook while it is open or being saved).
func (c *Connector) settled(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	now := fileStamp{size: fi.Size(), mod: fi.ModTime()}
	prev, seen := c.seen[path]
	c.seen[path] = now
	stable := (seen && prev == now) || time.Since(now.mod) >= c.cfg.Settle
	if !stable {
		return false
	}
	if locked(path) {
		return false
	}
	delete(c.seen, path)
	return true
}

// finish moves the file into done/ or failed/ beside it and writes its result workbook
// there. Every message names the organization.
func (c *Connector) finish(log *slog.Logger, o *orgConfig, path, folder string, info resultInfo, rows []*staffRow) {
	if !strings.Contains(info.Message, o.Name) {
		info.Message = "Организация " + o.label() + ". " + info.Message
	}
	dir := filepath.Join(filepath.Dir(path), folder)
	if err := ensureDir(dir); err != nil {
		log.Error("cannot create folder; the file stays in the inbox", "folder", dir, "err", err)
		return
	}
	target := uniquePath(dir, filepath.Base(path), c.now())
	if err := os.Rename(path, target); err != nil {
		log.Error("cannot move the file out of the inbox", "to", target, "err", err)
		return
	}
	res := resultPath(dir, filepath.Base(target))
	if err := writeResult(res, info, rows); err != nil {
		log.Error("cannot write the result workbook", "result", res, "err", err)
		return
	}
	log.Debug("file processed", "moved_to", target, "result", res)
}
