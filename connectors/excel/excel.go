// Package excel is medsync's Excel connector. It imports employers' staff lists for
// periodic check-ups (профосмотр) from an inbox folder per organization into the MIS,
// through the profile's write.staff_* statements, leaving a Russian result workbook
// beside each processed file; and on cron schedules it exports workbooks for the
// registry: tomorrow's call list per branch («обзвон») and the doctors' schedule for the
// coming week, built from the appointment, patient, doctor, branch and shift events the
// connector receives.
package excel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
)

func init() {
	connectors.Register(&connectors.Spec{
		Name:        "excel",
		Description: "staff lists for check-ups from an inbox folder into the MIS; scheduled call-list and doctors' schedule workbooks",
		Entities: []string{mapping.EntityBranch, mapping.EntitySpecialty, mapping.EntityDoctor,
			mapping.EntityPatient, mapping.EntityShift, mapping.EntityAppointment},
		Options: options,
		New: func(env connectors.Env, cfg *connectors.Values) (connectors.Connector, error) {
			return New(env, cfg)
		},
	})
}

// Connector is the Excel connector. It implements connectors.Connector,
// connectors.Runner and connectors.Checker.
type Connector struct {
	env connectors.Env
	cfg *config
	log *slog.Logger
	st  *store
	now func() time.Time

	runMu       sync.Mutex
	seen        map[string]fileStamp // inbox files seen in the previous round
	unsupported bool                 // "imports unsupported" already logged
}

// fileStamp is what a file looked like when last seen.
type fileStamp struct {
	size int64
	mod  time.Time
}

// New builds the connector from its config section.
func New(env connectors.Env, values *connectors.Values) (*Connector, error) {
	cfg, err := parseConfig(env, values)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("connector", "excel")
	if env.Instance != "" && env.Instance != "excel" {
		log = log.With("instance", env.Instance)
	}
	dir := env.StateDir
	if dir == "" {
		dir = "state"
	}
	st, err := openStore(context.Background(), dir, env.Instance)
	if err != nil {
		return nil, err
	}
	return &Connector{env: env, cfg: cfg, log: log, st: st, now: time.Now, seen: map[string]fileStamp{}}, nil
}

// Close releases the state file.
func (c *Connector) Close() error { return c.st.Close() }

// Check reports whether the inbox and export folders are usable.
func (c *Connector) Check(ctx context.Context) []connectors.Check {
	var out []connectors.Check
	for _, o := range c.cfg.Orgs {
		out = append(out, connectors.Check{
			Name: fmt.Sprintf("excel: inbox of %s (%s)", o.Code, o.Inbox),
			Err:  checkWritableDir(o.Inbox),
			Hint: "create the folder and let the service account read, write and delete files in it",
		})
	}
	if len(c.cfg.Exports) > 0 {
		out = append(out, connectors.Check{
			Name: "excel: export folder " + c.cfg.ExportDir,
			Err:  checkWritableDir(c.cfg.ExportDir),
			Hint: "create the folder and let the service account write there",
		})
	}
	return out
}

func checkWritableDir(dir string) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".medsync-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Run checks every inbox once and runs the exports whose schedule has come. Problems
// with single files are logged and written to result workbooks; Run returns an error
// only when the connector's own state cannot be used.
func (c *Connector) Run(ctx context.Context, host connectors.Host) error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	log := c.log
	if host != nil && host.Logger() != nil {
		log = host.Logger().With("connector", "excel")
	}
	var errs []error
	if len(c.cfg.Orgs) > 0 {
		var w connectors.MISWriter
		if host != nil {
			w = host.MIS()
		}
		if missing := missingStatements(w); len(missing) > 0 {
			if !c.unsupported {
				log.Warn("staff-list imports are unsupported: the MIS profile declares no write statements for them; files stay in the inboxes untouched",
					"missing", strings.Join(missing, ", "))
				c.unsupported = true
			}
		} else {
			c.unsupported = false
			for _, o := range c.cfg.Orgs {
				if err := c.pollInbox(ctx, log, w, o); err != nil {
					errs = append(errs, err)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
	}
	if err := c.runExports(ctx, log); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pollInbox imports every settled .xlsx file in the organization's inbox.
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
		if e.IsDir() || !strings.EqualFold(filepath.Ext(n), ".xlsx") || strings.HasPrefix(n, "~$") || strings.HasPrefix(n, ".") {
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
		if !c.settled(path) {
			log.Debug("file still being written; next round", "file", path)
			continue
		}
		if err := c.importFile(ctx, log, w, o, path); err != nil {
			return err
		}
	}
	return nil
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
	return true
}

// importFile processes one file and moves it to done/ or failed/. It returns an error
// only for problems with the connector's own state; everything about the file itself is
// logged and reported in the result workbook.
func (c *Connector) importFile(ctx context.Context, log *slog.Logger, w connectors.MISWriter, o *orgConfig, path string) error {
	name := filepath.Base(path)
	log = log.With("org", o.Code, "file", path)
	hash, err := hashFile(path)
	if err != nil {
		log.Warn("cannot read file; next round", "err", err)
		return nil
	}
	now := c.now().In(c.cfg.Zone)
	info := resultInfo{Source: name, Org: o, At: now}
	if prevName, at, ok, err := c.st.importedAs(ctx, hash); err != nil {
		return err
	} else if ok {
		info.Message = fmt.Sprintf("Этот файл уже был загружен %s (как «%s»). Повторно не загружался.", ruStamp(at, c.cfg.Zone), prevName)
		log.Info("file already imported; moved to done without importing", "imported_as", prevName, "imported_at", at)
		c.finish(log, o, path, "done", info, nil)
		return nil
	}

	today := convert.FromTime(now)
	p := &rowParser{cols: o.Cols, patronymics: c.cfg.Patronymics, factors: c.cfg.Factors, today: today}
	data, err := readStaffList(ctx, path, o, p, c.cfg.MaxRows)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *fileError
		if !errors.As(err, &fe) {
			fe = refuse("Файл не удалось прочитать: "+err.Error(), "%v", err)
		}
		if o.Sheet != "" {
			info.Sheet = o.Sheet
		}
		info.Message = fe.Msg
		log.Warn("file refused", "sheet", info.Sheet, "problem", fe.Log)
		c.finish(log, o, path, "failed", info, nil)
		return nil
	}
	info.Sheet = data.Sheet
	for fl := field(0); fl < nFields; fl++ {
		if col := o.Cols[fl]; col > data.Width && !isRequired(fl) {
			log.Warn("column is outside the sheet; the field is read as empty", "sheet", data.Sheet, "column", colName(col), "field", fieldKeys[fl])
		}
	}

	invalid := 0
	for _, r := range data.Rows {
		if !r.Valid() {
			r.Status = statusRefused
			invalid++
		}
	}
	if invalid > 0 && o.Strict {
		for _, r := range data.Rows {
			if r.Status == "" {
				r.Status = statusRefused
				r.Note = "файл отклонён целиком: включён строгий режим (strict), а в файле есть строки с ошибками"
			}
		}
		info.Message = fmt.Sprintf("Файл отклонён целиком: строк с ошибками — %d (строгий режим). Исправьте отмеченные ячейки и положите файл снова.", invalid)
		log.Warn("file refused: strict mode and invalid rows", "sheet", data.Sheet, "invalid_rows", invalid, "first", firstProblem(data.Rows))
		c.finish(log, o, path, "failed", info, data.Rows)
		return nil
	}

	txErr := w.Tx(ctx, func(tx connectors.MISTx) error {
		if w.Has(stmtContractEnd) {
			if err := checkContract(ctx, tx, o, today); err != nil {
				return err
			}
		}
		return writeRows(ctx, tx, o, data.Rows, name, now)
	})
	var fe *fileError
	switch {
	case errors.As(txErr, &fe):
		for _, r := range data.Rows {
			r.Status, r.Note = statusRefused, ""
			if r.Valid() {
				r.Note = "файл отклонён целиком"
			}
		}
		info.Message = fe.Msg
		log.Warn("file refused", "sheet", data.Sheet, "problem", fe.Log)
		c.finish(log, o, path, "failed", info, data.Rows)
		return nil
	case txErr != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n, err := c.st.failedAttempt(ctx, hash, txErr)
		if err != nil {
			return err
		}
		if n < maxAttempts {
			log.Warn("MIS transaction failed; nothing of the file was written, it stays in the inbox and is tried again next round",
				"attempt", n, "of", maxAttempts, "err", txErr)
			delete(c.seen, path)
			return nil
		}
		for _, r := range data.Rows {
			r.Status, r.Note = statusRefused, ""
		}
		info.Message = fmt.Sprintf("МИС не приняла файл после %d попыток, ничего не загружено. Ошибка: %v. Обратитесь к администратору.", n, txErr)
		log.Error("MIS transaction failed repeatedly; file moved to failed", "attempts", n, "err", txErr)
		_ = c.st.forgetAttempts(ctx, hash)
		c.finish(log, o, path, "failed", info, data.Rows)
		return nil
	}
	counts := map[string]int{}
	for _, r := range data.Rows {
		counts[r.Status]++
	}
	if err := c.st.markImported(ctx, hash, name, o.Code, now, counts[statusLoaded]); err != nil {
		return err
	}
	info.Message = fmt.Sprintf("Загружено: %d, уже были в списке: %d, отклонено: %d.", counts[statusLoaded], counts[statusListed], counts[statusRefused])
	folder := "done"
	if counts[statusLoaded]+counts[statusListed] == 0 {
		folder = "failed"
		info.Message = "Ни одна строка не загружена. " + info.Message
	}
	log.Info("staff list imported", "sheet", data.Sheet, "loaded", counts[statusLoaded], "already_listed", counts[statusListed],
		"refused", counts[statusRefused], "first_problem", firstProblem(data.Rows))
	c.finish(log, o, path, folder, info, data.Rows)
	return nil
}

// maxAttempts is how many times a file whose MIS transaction fails is tried.
const maxAttempts = 3

func isRequired(f field) bool {
	for _, r := range requiredFields {
		if r == f {
			return true
		}
	}
	return false
}

// firstProblem names the first refused cell (row and column) for the log line.
func firstProblem(rows []*staffRow) string {
	for _, r := range rows {
		for _, is := range r.Issues {
			if !is.Warn {
				return fmt.Sprintf("row %d: %s", r.Row, is.Msg)
			}
		}
	}
	return ""
}

// finish moves the file into done/ or failed/ beside it and writes its result workbook
// there.
func (c *Connector) finish(log *slog.Logger, o *orgConfig, path, folder string, info resultInfo, rows []*staffRow) {
	delete(c.seen, path)
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

// uniquePath returns dir/name, or dir/name with a time stamp when that exists.
func uniquePath(dir, name string, now time.Time) string {
	p := filepath.Join(dir, name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return p
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 0; ; i++ {
		suffix := now.Format("_20060102-150405")
		if i > 0 {
			suffix += fmt.Sprintf("-%d", i)
		}
		p = filepath.Join(dir, base+suffix+ext)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func ruStamp(rfc3339 string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return rfc3339
	}
	return t.In(loc).Format("02.01.2006 15:04")
}
