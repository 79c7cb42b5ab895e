package excel

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
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
