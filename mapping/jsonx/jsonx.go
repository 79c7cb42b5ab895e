// Package jsonx holds the few JSON routines on medsync's hot paths, written to give
// byte for byte what encoding/json gives (the tests compare them on random and fuzzed
// input): string and time encoding for the canonical records and the file connector's
// lines, and a validity check of a record's JSON that is several times faster than
// json.Valid. Everything else uses encoding/json.
package jsonx

import (
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json escapes it:
// `"` and `\`, control characters (\b \f \n \r \t short, the rest \u00XX), invalid
// UTF-8 as \ufffd, U+2028 and U+2029, and with escapeHTML also <, > and & (what
// json.Marshal does; an Encoder with SetEscapeHTML(false) does not).
func AppendString(dst []byte, s string, escapeHTML bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!escapeHTML || (b != '<' && b != '>' && b != '&')) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendTime appends t as time.Time's MarshalJSON does (quoted RFC 3339 with
// nanoseconds). It reports false, with dst unchanged, for a time that MarshalJSON
// refuses (a year outside 0–9999, a zone offset of 24 hours or more): the caller
// then encodes with encoding/json, which gives the error.
func AppendTime(dst []byte, t time.Time) ([]byte, bool) {
	n0 := len(dst)
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	b := dst[n0+1:]
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' {
		return dst[:n0], false
	}
	if b[len(b)-1] != 'Z' {
		c := b[len(b)-len("Z07:00")]
		h := b[len(b)-len("07:00"):]
		if ('0' <= c && c <= '9') || 10*(h[0]-'0')+(h[1]-'0') >= 24 {
			return dst[:n0], false
		}
	}
	return append(dst, '"'), true
}
