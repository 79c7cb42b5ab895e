package excel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping/convert"
)

// stmtListFactors updates the harmful factors of an employee on the organization's
// list (:org, :patient_id, :factors, :now_ole). Optional: without it corrections are
// remembered for the next files but the list already loaded is not changed.
const stmtListFactors = "write.staff_list_factors"

// correction is one filled row of a returned recognition sheet.
type correction struct {
	typed string
	codes []string
}

// applyRecognition takes a result workbook dropped back into the inbox: the codes the
// registrar wrote on its sheet «Распознать вредные факторы» are checked against the
// code table, remembered for the organization, and applied to the employees loaded by
// that import. The workbook goes to done/ (or failed/) with its own result.
func (c *Connector) applyRecognition(ctx context.Context, log *slog.Logger, w connectors.MISWriter, o *orgConfig, path string, t *factorTable) error {
	log = log.With("kind", "recognition")
	info := resultInfo{Source: filepath.Base(path), Org: o, At: c.now().In(c.cfg.Zone), Sheet: sheetRecognize}
	fail := func(msg, logMsg string) error {
		info.Message = msg
		log.Warn("returned result workbook refused: " + logMsg)
		c.finish(log, o, path, "failed", info, nil)
		return nil
	}
	id, fixes, bad, err := readRecognition(path, t)
	if err != nil {
		return fail("Это книга результата загрузки, но её листы не читаются: "+err.Error(), "unreadable")
	}
	if id == "" {
		return fail("Это книга результата загрузки, а не список сотрудников: в ней нет листа «"+sheetRecognize+"» с номером загрузки. Положите в папку исходный список.", "no recognition sheet or import number")
	}
	org, pending, err := c.st.pending(c.bg, id)
	if err != nil {
		return err
	}
	if org != "" && org != o.Code {
		return fail(fmt.Sprintf("Эта книга результата — загрузка другой организации (%s). Положите её в папку той организации.", org), "import "+id+" belongs to organization "+org)
	}
	if len(bad) > 0 {
		return fail(fmt.Sprintf("Коды не приняты — их нет в справочнике вредных факторов: %s. Исправьте столбец «%s» и положите книгу снова; ничего не изменено.", strings.Join(bad, "; "), recogCode),
			fmt.Sprintf("%d corrections name codes that are not in the code table", len(bad)))
	}
	if len(fixes) == 0 {
		return fail(fmt.Sprintf("В столбце «%s» ничего не вписано — исправлять нечего.", recogCode), "no corrections written")
	}
	byTyped := map[string][]string{}
	for _, f := range fixes {
		byTyped[foldCode(f.typed)] = f.codes
	}
	changed, left := applyFixes(pending, byTyped)
	canUpdate := w.Has(stmtListFactors)
	if canUpdate && len(changed) > 0 {
		nowOLE := convert.ToOLEDateTime(info.At)
		err := w.Tx(ctx, func(tx connectors.MISTx) error {
			for _, p := range changed {
				if _, err := tx.Exec(ctx, stmtListFactors, map[string]any{"org": idParam(o.MISID), "patient_id": idParam(p.PatientID),
					"factors": nullable(strings.Join(p.Factors, ", ")), "now_ole": nowOLE}); err != nil {
					return fmt.Errorf("card %s: %w", p.PatientID, err)
				}
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			hash, herr := hashFile(path)
			if herr != nil {
				log.Warn("cannot read file; next round", "err", herr)
				return nil
			}
			return c.misFailed(log, o, path, hash, info, nil, fmt.Errorf("%s: %w", stmtListFactors, err))
		}
	}
	if !canUpdate {
		left = pending // nothing applied: keep them waiting
	}
	if err := c.st.recognised(c.bg, id, o.Code, byTyped, info.At, left); err != nil {
		return err
	}
	var list []string
	for _, f := range fixes {
		to := strings.Join(f.codes, ", ")
		if to == "" {
			to = "не вредный фактор"
		}
		list = append(list, f.typed+" → "+to)
	}
	info.Message = fmt.Sprintf("Исправления запомнены для организации %s и будут применяться к следующим спискам: %s.", o.label(), strings.Join(list, "; "))
	if canUpdate {
		info.Message += fmt.Sprintf(" Вредные факторы исправлены в списке профосмотра у сотрудников: %d.", len(changed))
	} else {
		info.Message += " Список профосмотра этой загрузки не изменён: МИС не позволяет менять факторы (нет запроса " + stmtListFactors + ") — исправьте их в МИС вручную."
	}
	log.Info("harmful-factor corrections applied", "import", id, "corrections", len(fixes), "employees_updated", len(changed))
	c.finish(log, o, path, "done", info, nil)
	return nil
}

// applyFixes replaces the pending employees' unknown codes that have a correction. It
// returns the employees whose list changed and the new state of all of them.
func applyFixes(pending []pendingFactors, fixes map[string][]string) (changed, all []pendingFactors) {
	for _, p := range pending {
		var still []string
		did := false
		for _, u := range p.Unknown {
			codes, ok := fixes[foldCode(u)]
			if !ok {
				still = append(still, u)
				continue
			}
			added := append([]string(nil), p.Factors...)
			for _, code := range codes {
				if !contains(added, code) {
					added = append(added, code)
				}
			}
			if len(strings.Join(added, ", ")) > maxFactors {
				still = append(still, u) // would not fit the list's column: left for the MIS by hand
				continue
			}
			did = true
			p.Factors = added
		}
		p.Unknown = still
		if did {
			changed = append(changed, p)
		}
		all = append(all, p)
	}
	return changed, all
}

// readRecognition reads a returned result workbook: the import number from «Итог» and
// the filled «Код из справочника» cells. bad lists corrections naming unknown codes.
func readRecognition(path string, t *factorTable) (id string, fixes []correction, bad []string, err error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return "", nil, nil, errors.New("файл повреждён")
	}
	defer f.Close()
	summary, err := f.GetRows(sheetSummary)
	if err != nil {
		return "", nil, nil, errors.New("нет листа «" + sheetSummary + "»")
	}
	for _, row := range summary {
		if len(row) >= 2 && strings.TrimSpace(row[0]) == summaryImportID {
			id = strings.TrimSpace(row[1])
		}
	}
	rows, err := f.GetRows(sheetRecognize)
	if err != nil || len(rows) == 0 {
		return "", nil, nil, nil
	}
	typedCol, codeCol := -1, -1
	for i, h := range rows[0] {
		switch foldTitle(h) {
		case foldTitle(recogTyped):
			typedCol = i
		case foldTitle(recogCode):
			codeCol = i
		}
	}
	if typedCol < 0 || codeCol < 0 {
		return "", nil, nil, fmt.Errorf("на листе «%s» нет столбцов «%s» и «%s»", sheetRecognize, recogTyped, recogCode)
	}
	for i, row := range rows[1:] {
		if codeCol >= len(row) || typedCol >= len(row) || strings.TrimSpace(row[typedCol]) == "" {
			continue
		}
		codes, wrong, ok := parseCorrection(row[codeCol], t)
		switch {
		case len(wrong) > 0:
			bad = append(bad, fmt.Sprintf("строка %d: «%s» → «%s»", i+2, row[typedCol], strings.Join(wrong, ", ")))
		case ok:
			fixes = append(fixes, correction{typed: strings.TrimSpace(row[typedCol]), codes: codes})
		}
	}
	return id, fixes, bad, nil
}
