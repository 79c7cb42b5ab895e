package excel

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"medsync/connectors"
)

//go:embed factors_29n.txt
var defaultFactorText string

// factorTable is the set of harmful-factor codes an import accepts.
type factorTable struct {
	codes  map[string]bool
	source string // for messages: "built-in list" or the file path
}

var (
	defaultOnce  sync.Once
	defaultTable *factorTable
)

func defaultFactors() *factorTable {
	defaultOnce.Do(func() {
		t, err := parseFactors(strings.NewReader(defaultFactorText), "built-in list")
		if err != nil {
			panic("excel: built-in factor list: " + err.Error())
		}
		defaultTable = t
	})
	return defaultTable
}

func loadFactorFile(path string) (*factorTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open harmful-factor code list: %w", err)
	}
	defer f.Close()
	return parseFactors(f, path)
}

// parseFactors reads one code per line; '#' starts a comment line; text after the code
// (separated by a space or tab) is a description and ignored.
func parseFactors(r io.Reader, source string) (*factorTable, error) {
	t := &factorTable{codes: map[string]bool{}, source: source}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code := line
		if i := strings.IndexAny(line, " \t;"); i >= 0 {
			code = line[:i]
		}
		code = normalizeFactor(code)
		if code == "" {
			return nil, fmt.Errorf("%s line %d: %q does not start with a code such as 4.2.5", source, n, line)
		}
		t.codes[code] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(t.codes) == 0 {
		return nil, fmt.Errorf("%s holds no codes", source)
	}
	return t, nil
}

func (t *factorTable) Has(code string) bool { return t.codes[code] }

// stmtFactors is the profile statement that returns the MIS's справочник «Вредные
// факторы»: rows with a column code (and optionally name).
const stmtFactors = "write.staff_factors"

// misFactors reads the code table from the MIS through write.staff_factors. It returns
// nil (use the fallback list) when the profile has no such statement or it returns no
// codes. Codes that are not shaped like "4.2.5" are skipped and counted.
func misFactors(ctx context.Context, w connectors.MISWriter) (t *factorTable, skipped int, err error) {
	if w == nil || !w.Has(stmtFactors) {
		return nil, 0, nil
	}
	t = &factorTable{codes: map[string]bool{}, source: "MIS (" + stmtFactors + ")"}
	err = w.Tx(ctx, func(tx connectors.MISTx) error {
		rows, err := tx.Query(ctx, stmtFactors, map[string]any{})
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		idx := -1
		for i, c := range cols {
			if strings.EqualFold(c, "code") {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Errorf("returns columns %v; it must return a column named code", cols)
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			if code := normalizeFactor(anyString(vals[idx])); code != "" {
				t.codes[code] = true
			} else {
				skipped++
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", stmtFactors, err)
	}
	if len(t.codes) == 0 {
		return nil, skipped, nil
	}
	return t, skipped, nil
}

// foldCode is the key under which a registrar's correction of a typed code is kept:
// trimmed, lower case, inner spaces removed.
func foldCode(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// parseCorrection reads what a registrar wrote in «Код из справочника»: one or more
// codes, or «-»/«нет» for "not a factor, leave it out". Codes not in t are returned in
// bad.
func parseCorrection(s string, t *factorTable) (codes, bad []string, ok bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return nil, nil, false
	case "-", "—", "–", "нет":
		return []string{}, nil, true
	}
	for _, item := range splitFactors(s) {
		code := normalizeFactor(item)
		if code == "" || !t.Has(code) {
			bad = append(bad, item)
			continue
		}
		if !contains(codes, code) {
			codes = append(codes, code)
		}
	}
	if codes == nil {
		codes = []string{}
	}
	return codes, bad, len(bad) == 0
}

// normalizeFactor turns what people type ("п. 4.2.5.", " 4.2.5 ") into the bare dotted
// code, or "" when it is not shaped like one.
func normalizeFactor(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "п.")
	s = strings.TrimPrefix(s, "П.")
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ".")
	if s == "" {
		return ""
	}
	prevDot := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			prevDot = false
		case c == '.' && !prevDot:
			prevDot = true
		default:
			return ""
		}
	}
	return s
}

// splitFactors splits a cell into codes: separated by commas, semicolons, line breaks
// or spaces. Items that are not code-shaped are returned as they were typed so they can
// be reported.
func splitFactors(cell string) (codes []string) {
	f := func(r rune) bool {
		return r == ',' || r == ';' || r == '\n' || r == '\r' || r == ' ' || r == '\t' || r == '\u00a0'
	}
	parts := strings.FieldsFunc(cell, f)
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		// "п. 4.2.5" splits into "п." and "4.2.5": glue them back.
		if (p == "п." || p == "П.") && i+1 < len(parts) {
			continue
		}
		codes = append(codes, p)
	}
	return codes
}
