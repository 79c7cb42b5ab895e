package convert

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// ErrNotUTF8 is returned by StrictText for bytes that are not valid UTF-8.
var ErrNotUTF8 = errors.New("text is not UTF-8 (legacy code page?)")

// Text cleans a text value read from a MIS or a spreadsheet: a string or []byte (NULL,
// nil, gives ""). Leading and trailing whitespace is trimmed and every internal run of
// whitespace (including tabs, line breaks and no-break spaces) becomes one space; a
// leading byte-order mark is dropped. NUL and other control characters are errors.
// Bytes that are not valid UTF-8 are decoded as Windows-1251, the code page of
// Russian legacy databases (see StrictText to refuse them instead). maxLen > 0 limits
// the result's length in characters; a longer value is an error, never cut.
func Text(v any, maxLen int) (string, error) { return text(v, maxLen, false) }

// StrictText is Text that returns ErrNotUTF8 instead of decoding Windows-1251.
func StrictText(v any, maxLen int) (string, error) { return text(v, maxLen, true) }

func text(v any, maxLen int, strict bool) (string, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		s = x
	case []byte:
		if !utf8.Valid(x) {
			if strict {
				return "", ErrNotUTF8
			}
			return cleanText(decode1251(x), maxLen)
		}
		s = string(x)
	default:
		return "", fmt.Errorf("text has unsupported type %T (value %v)", v, v)
	}
	if !utf8.ValidString(s) {
		if strict {
			return "", ErrNotUTF8
		}
		s = decode1251([]byte(s))
	}
	return cleanText(s, maxLen)
}

// decode1251 decodes Windows-1251 bytes; it cannot fail, every byte maps to a rune.
func decode1251(b []byte) string {
	out, err := charmap.Windows1251.NewDecoder().Bytes(b)
	if err != nil {
		// Unreachable for a single-byte code page; keep the replacement-character form.
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

// cleanText trims and collapses whitespace, rejects control characters and checks the
// length. It returns s itself when nothing needs changing.
func cleanText(s string, maxLen int) (string, error) {
	s = strings.TrimPrefix(s, "\uFEFF")
	clean := true
	prevSpace := true // a space at the start needs trimming
	n := 0
	for i, r := range s {
		switch {
		case r == 0:
			return "", fmt.Errorf("text contains a NUL character at byte %d", i)
		case unicode.IsSpace(r):
			if r != ' ' || prevSpace {
				clean = false
			}
			prevSpace = true
			continue
		case unicode.IsControl(r) || r == '\uFEFF':
			return "", fmt.Errorf("text contains the control character %U at byte %d", r, i)
		}
		if prevSpace && n > 0 {
			n++ // the single space before this character
		}
		prevSpace = false
		n++
	}
	if prevSpace && s != "" {
		clean = false // trailing space (or only spaces)
	}
	if maxLen > 0 && n > maxLen {
		return "", fmt.Errorf("text is %d characters long, longer than the %d allowed", n, maxLen)
	}
	if clean {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

// FoldName folds a person's name for matching, not for display: lower case, ё as е,
// surrounding spaces trimmed, dots, hyphens, dashes, underscores and commas treated as
// spaces, runs of spaces collapsed, and apostrophes dropped. "Петрова-Водкина  Алёна"
// and "петрова водкина алена" fold to the same string, as do "Иванов И.И." and
// "иванов и. и.".
func FoldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch r {
		case 'ё', 'Ё':
			r = 'е'
		case '\'', '’', 'ʼ', '`', '´':
			continue
		case '.', ',', '_', '-', '‐', '‑', '‒', '–', '—':
			r = ' '
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
