package excel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"medsync/connectors"
	"medsync/mapping/convert"
)

// importFile processes one inbox file and moves it to done/ or failed/. It returns an
// error only for problems with the connector's own state; everything about the file
// itself is logged and reported in the result workbook.
func (c *Connector) importFile(ctx context.Context, log *slog.Logger, w connectors.MISWriter, o *orgConfig, path string) error {
	name := filepath.Base(path)
	log = log.With("org", o.Code, "file", path)
	now := c.now().In(c.cfg.Zone)
	info := resultInfo{Source: name, Org: o, At: now, Sheet: o.Sheet}
	ext := strings.ToLower(filepath.Ext(name))
	if !bookFormats[ext] {
		msg, known := refusedFormats[ext]
		if !known {
			msg = unknownFormatMsg(name)
		}
		info.Message = msg
		log.Warn("file is not a staff list in a format the connector reads; moved to failed", "extension", ext)
		c.finish(log, o, path, "failed", info, nil)
		return nil
	}
	hash, err := hashFile(path)
	if err != nil {
		log.Warn("cannot read file; next round", "err", err)
		return nil
	}
	if prevName, at, ok, err := c.st.importedAs(c.bg, o.Code, hash); err != nil {
		return err
	} else if ok {
		info.Message = fmt.Sprintf("Этот файл уже был загружен для организации %s %s (как «%s»). Повторно не загружался.", o.label(), ruStamp(at, c.cfg.Zone), prevName)
		log.Info("file already imported for this organization; moved to done without importing", "imported_as", prevName, "imported_at", at)
		c.finish(log, o, path, "done", info, nil)
		return nil
	}
	factors, err := c.factorTable(ctx, log, w)
	if err != nil {
		return c.misFailed(log, o, path, hash, info, nil, err)
	}
	fixes, err := c.st.fixes(c.bg, o.Code)
	if err != nil {
		return err
	}
	p := &rowParser{cols: o.Cols, patronymics: c.cfg.Patronymics, factors: factors, fixes: fixes, today: convert.FromTime(now)}
	lim := readLimits{MaxUnpacked: c.cfg.MaxUnpacked, MaxRows: c.cfg.MaxRows, MaxEmpty: c.cfg.MaxEmpty}
	src := startReading(ctx, path, o, p, lim)
	first := src.next()
	if first == nil { // nothing to write: the file is refused (or is a result workbook)
		return c.unread(ctx, log, w, o, path, info, src, factors)
	}
	return c.load(ctx, log, w, o, path, hash, info, src, first)
}

// unread handles a file whose reading ended before its first data row.
func (c *Connector) unread(ctx context.Context, log *slog.Logger, w connectors.MISWriter, o *orgConfig, path string, info resultInfo, src *rowStream, factors *factorTable) error {
	if errors.Is(src.err, errResultBook) {
		return c.applyRecognition(ctx, log, w, o, path, factors)
	}
	if src.data != nil && src.data.Sheet != "" {
		info.Sheet = src.data.Sheet
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var fe *fileError
	if !errors.As(src.err, &fe) {
		fe = refuse("Файл не удалось прочитать. Откройте его в Excel или LibreOffice и сохраните заново.", "%v", src.err)
	}
	info.Message = fe.Msg
	log.Warn("file refused", "sheet", info.Sheet, "problem", fe.Log)
	c.finish(log, o, path, "failed", info, nil)
	return nil
}

// factorTable is the MIS's справочник «Вредные факторы» when the profile declares
// write.staff_factors and it returns codes, else the configured or built-in list.
func (c *Connector) factorTable(ctx context.Context, log *slog.Logger, w connectors.MISWriter) (*factorTable, error) {
	t, skipped, err := misFactors(ctx, w)
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		log.Warn("harmful-factor codes from the MIS that are not shaped like 4.2.5 were skipped", "statement", stmtFactors, "skipped", skipped)
	}
	if t == nil {
		return c.cfg.Factors, nil
	}
	return t, nil
}

// errStrict: strict mode and a refused row; the transaction is rolled back.
var errStrict = errors.New("strict mode: the file has refused rows")

// load writes the rows in one MIS transaction while the rest of the file is still being
// read, and reports the outcome. A problem found later in the file (too many rows, a
// refused row in strict mode) rolls everything back.
func (c *Connector) load(ctx context.Context, log *slog.Logger, w connectors.MISWriter, o *orgConfig, path, hash string, info resultInfo, src *rowStream, first *staffRow) error {
	now := info.At
	name := filepath.Base(path)
	nowOLE := convert.ToOLEDateTime(now)
	var rows []*staffRow
	invalid := 0
	take := func(r *staffRow) {
		rows = append(rows, r)
		if !r.Valid() {
			r.Status = statusRefused
			invalid++
		}
	}
	txErr := w.Tx(ctx, func(tx connectors.MISTx) error {
		if w.Has(stmtContractEnd) {
			if err := checkContract(ctx, tx, o, convert.FromTime(now)); err != nil {
				return err
			}
		}
		for r := first; r != nil; r = src.next() {
			take(r)
			if r.Status != "" || invalid > 0 && o.Strict {
				continue
			}
			if err := writeRow(ctx, tx, o, r, name, nowOLE); err != nil {
				return err
			}
		}
		if src.err != nil {
			return src.err
		}
		if invalid > 0 && o.Strict {
			return errStrict
		}
		return nil
	})
	if len(rows) == 0 {
		take(first) // the transaction ended before it took a row
	}
	for r := src.next(); r != nil; r = src.next() { // the rest, for the result
		take(r)
	}
	data := src.data
	info.Sheet = data.Sheet
	for fl := field(0); fl < nFields; fl++ {
		if col := o.Cols[fl]; col > data.Width && !isRequired(fl) && o.Titles[fl] == "" {
			log.Warn("column is outside the sheet; the field is read as empty", "sheet", data.Sheet, "column", colName(col), "field", fieldKeys[fl])
		}
	}
	if src.err != nil {
		return c.unread(ctx, log, w, o, path, info, src, nil)
	}
	var fe *fileError
	switch {
	case errors.Is(txErr, errStrict):
		for _, r := range rows {
			if r.Status != statusRefused {
				r.Status = statusRefused
				r.Note = "файл отклонён целиком: включён строгий режим (strict), а в файле есть строки с ошибками"
			}
		}
		info.Message = fmt.Sprintf("Файл отклонён целиком: строк с ошибками — %d (строгий режим). Исправьте отмеченные ячейки и положите файл снова.", invalid)
		log.Warn("file refused: strict mode and invalid rows", "sheet", data.Sheet, "invalid_rows", invalid, "first", firstProblem(rows))
		c.finish(log, o, path, "failed", info, rows)
		return nil
	case errors.As(txErr, &fe):
		for _, r := range rows {
			r.Status, r.Note = statusRefused, ""
			if r.Valid() {
				r.Note = "файл отклонён целиком"
			}
		}
		info.Message = fe.Msg
		log.Warn("file refused", "sheet", data.Sheet, "problem", fe.Log)
		c.finish(log, o, path, "failed", info, rows)
		return nil
	case txErr != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.misFailed(log, o, path, hash, info, rows, txErr)
	}
	return c.loaded(log, o, path, hash, info, data, rows)
}

// loaded records a committed import and writes its result.
func (c *Connector) loaded(log *slog.Logger, o *orgConfig, path, hash string, info resultInfo, data *sheetData, rows []*staffRow) error {
	name := filepath.Base(path)
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.Status]++
	}
	if err := c.st.markImported(c.bg, hash, name, o.Code, info.At, counts[statusLoaded]); err != nil {
		return err
	}
	info.Message = fmt.Sprintf("Загружено: %d, уже были в списке: %d, отклонено: %d.", counts[statusLoaded], counts[statusListed], counts[statusRefused])
	if counts[statusDuplicate] > 0 {
		info.Message += fmt.Sprintf(" Повторы в файле: %d.", counts[statusDuplicate])
	}
	if n := unknownCount(rows); n > 0 {
		info.ImportID = o.Code + "-" + hash[:16]
		if err := c.st.savePending(c.bg, info.ImportID, o.Code, rows); err != nil {
			return err
		}
		info.Message += fmt.Sprintf(" Нераспознанных кодов вредных факторов: %d — сотрудники загружены без них. Впишите верные коды на листе «%s» и положите эту книгу обратно в папку.", n, sheetRecognize)
	}
	if data.CutAt > 0 {
		info.Message += fmt.Sprintf(" Лист прочитан до строки %d: за последней заполненной строкой — %d пустых подряд, ниже файл не читался.", data.CutAt, c.cfg.MaxEmpty)
	}
	folder := "done"
	if counts[statusLoaded]+counts[statusListed] == 0 {
		folder = "failed"
		info.Message = "Ни одна строка не загружена. " + info.Message
	}
	log.Info("staff list imported", "sheet", data.Sheet, "loaded", counts[statusLoaded], "already_listed", counts[statusListed],
		"refused", counts[statusRefused], "duplicates", counts[statusDuplicate], "first_problem", firstProblem(rows))
	c.finish(log, o, path, folder, info, rows)
	return nil
}

// unknownCount is the number of distinct unrecognised codes of the loaded rows.
func unknownCount(rows []*staffRow) int {
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Status != statusLoaded {
			continue
		}
		for _, u := range r.Unknown {
			seen[foldCode(u)] = true
		}
	}
	return len(seen)
}

// misFailed counts a failed MIS transaction: the file stays in the inbox for the next
// round, and after maxAttempts it goes to failed/.
func (c *Connector) misFailed(log *slog.Logger, o *orgConfig, path, hash string, info resultInfo, rows []*staffRow, txErr error) error {
	if c.bg.Err() != nil {
		return nil // shutting down: the file stays for the next start
	}
	n, err := c.st.failedAttempt(c.bg, hash, txErr)
	if err != nil {
		return err
	}
	if n < maxAttempts {
		log.Warn("MIS transaction failed; nothing of the file was written, it stays in the inbox and is tried again next round",
			"attempt", n, "of", maxAttempts, "err", txErr)
		return nil
	}
	for _, r := range rows {
		r.Status, r.Note = statusRefused, ""
	}
	info.Message = fmt.Sprintf("МИС не приняла файл после %d попыток, ничего не загружено. Обратитесь к администратору: причина записана в журнал службы medsync.", n)
	log.Error("MIS transaction failed repeatedly; file moved to failed", "attempts", n, "err", txErr)
	_ = c.st.forgetAttempts(c.bg, hash)
	c.finish(log, o, path, "failed", info, rows)
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
