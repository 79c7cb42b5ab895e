package convert

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
)

// Phone normalises a phone number typed in a MIS or a spreadsheet to E.164.
//
// Russian numbers become "+7XXXXXXXXXX": 11 digits with a leading 8 or 7
// ("8 (922) 999-99-99", "79229999999", "+7 922 999 99 99"), or 10 digits with the area
// code only ("9229999999", "3452 12-34-56"). Spaces, dashes, dots and parentheses are
// separators. A number Excel stored as a float ("79229999999.0", "7.9229999999E10") is
// read as the integer it holds. "+8 9xx…", a common slip for "+7 9xx…", is read as +7.
// Foreign numbers must carry their country code, written "+<country>…", "00<country>…"
// or "810<country>…", and have 8 to 15 digits. Letters (names, "доб." extensions),
// several numbers in one field and numbers without an area code are errors.
func Phone(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("phone: %w", ErrEmpty)
	}
	if n, ok, err := excelInteger(t); err != nil {
		return "", fmt.Errorf("phone %q: %w", s, err)
	} else if ok {
		t = n
	}
	var buf [15]byte
	digits := buf[:0]
	plus := false
	for _, r := range t {
		switch {
		case r >= '0' && r <= '9':
			if len(digits) == 15 {
				return "", fmt.Errorf("phone %q has more than 15 digits", s)
			}
			digits = append(digits, byte(r))
		case r == '+':
			if plus || len(digits) > 0 {
				return "", fmt.Errorf("phone %q has a '+' that is not at the start", s)
			}
			plus = true
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\t' ||
			r == '\u00a0' || r == '\u2009' || r == '\u202f' || r == '\u2010' || r == '\u2011' ||
			r == '\u2012' || r == '\u2013' || r == '\u2014':
		case r == ',' || r == ';' || r == '/':
			return "", fmt.Errorf("phone %q holds more than one number (%q); keep one number per field", s, r)
		case unicode.IsLetter(r):
			return "", fmt.Errorf("phone %q contains the letter %q; keep only the number, without names or extensions", s, r)
		default:
			return "", fmt.Errorf("phone %q contains %q, which is not part of a phone number", s, r)
		}
	}
	d := digits
	if len(d) == 0 {
		return "", fmt.Errorf("phone %q has no digits", s)
	}
	if !plus {
		switch {
		case len(d) > 2 && d[0] == '0' && d[1] == '0':
			plus, d = true, d[2:]
		case len(d) > 11 && d[0] == '8' && d[1] == '1' && d[2] == '0':
			plus, d = true, d[3:]
		}
	}
	if plus {
		if len(d) == 11 && d[0] == '8' && d[1] == '9' {
			d[0] = '7'
		}
		switch {
		case d[0] == '0':
			return "", fmt.Errorf("phone %q: a country code cannot start with 0", s)
		case d[0] == '7' && len(d) != 11:
			return "", fmt.Errorf("phone %q: a +7 number has 10 digits after +7, this one has %d", s, len(d)-1)
		case len(d) < 8:
			return "", fmt.Errorf("phone %q has only %d digits with the country code; at least 8 are needed", s, len(d))
		}
		var out [16]byte
		out[0] = '+'
		n := copy(out[1:], d)
		return string(out[:1+n]), nil
	}
	switch len(d) {
	case 11:
		if d[0] != '8' && d[0] != '7' {
			return "", fmt.Errorf("phone %q has 11 digits but does not start with 8 or 7; write a foreign number with '+' and its country code", s)
		}
		d = d[1:]
	case 10:
	default:
		if len(d) < 10 {
			return "", fmt.Errorf("phone %q has only %d digits; a Russian number needs 10 digits with the area code", s, len(d))
		}
		return "", fmt.Errorf("phone %q has %d digits, too many for a Russian number; write a foreign number with '+' and its country code", s, len(d))
	}
	switch d[0] {
	case '3', '4', '7', '8', '9':
	default:
		return "", fmt.Errorf("phone %q: Russian area codes start with 3, 4, 7, 8 or 9, not %c", s, d[0])
	}
	var out [12]byte
	out[0], out[1] = '+', '7'
	copy(out[2:], d)
	return string(out[:]), nil
}

// excelInteger recognises a number that Excel (or a driver) turned into a float:
// "79229999999.0", "79229999999,00", "7.9229999999E10", "7,9229999999E+10". It
// returns the integer's digits and true, or false when t is not such a float. A
// float with a real fraction is an error: its digits are lost.
func excelInteger(t string) (string, bool, error) {
	i := 0
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	if i == 0 || i == len(t) {
		return "", false, nil
	}
	intPart := t[:i]
	frac := ""
	if t[i] == '.' || t[i] == ',' {
		j := i + 1
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		frac, i = t[i+1:j], j
	}
	if i == len(t) {
		if frac == "" || strings.Trim(frac, "0") != "" {
			return "", false, nil // "922.999" style separators, read as an ordinary phone
		}
		return intPart, true, nil
	}
	if t[i] != 'e' && t[i] != 'E' {
		return "", false, nil
	}
	i++
	if i < len(t) && t[i] == '+' {
		i++
	}
	exp, ok := atoiFixed(t[i:])
	if !ok || i == len(t) || len(t)-i > 2 {
		return "", false, nil
	}
	all := intPart + frac
	shift := exp - len(frac)
	if shift < 0 {
		cut := len(all) + shift
		if cut < 1 || strings.Trim(all[cut:], "0") != "" {
			return "", false, errors.New("it is a fractional number in scientific notation; format the spreadsheet column as text")
		}
		return all[:cut], true, nil
	}
	if shift > 15 {
		return "", false, errors.New("it is a number in scientific notation that is too large")
	}
	return all + strings.Repeat("0", shift), true, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsMobile reports whether e164 (a result of Phone) is a Russian mobile number, +79….
func IsMobile(e164 string) bool {
	return len(e164) == 12 && strings.HasPrefix(e164, "+79")
}

// Email validates and normalises an e-mail address: surrounding spaces are trimmed and
// the domain is lower-cased (the local part is kept as typed). The address must be a
// bare addr-spec (no display name or angle brackets) with exactly one '@', no spaces
// and a dot in the domain, and must parse with net/mail.
func Email(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("email: %w", ErrEmpty)
	}
	if strings.IndexFunc(t, unicode.IsSpace) >= 0 {
		return "", fmt.Errorf("email %q contains a space; keep one address per field", s)
	}
	at := strings.IndexByte(t, '@')
	switch {
	case at < 0:
		return "", fmt.Errorf("email %q has no '@'", s)
	case strings.IndexByte(t[at+1:], '@') >= 0:
		return "", fmt.Errorf("email %q has more than one '@'; keep one address per field", s)
	case at == 0:
		return "", fmt.Errorf("email %q has nothing before the '@'", s)
	}
	local, domain := t[:at], t[at+1:]
	switch {
	case domain == "":
		return "", fmt.Errorf("email %q has nothing after the '@'", s)
	case !strings.Contains(domain, "."):
		return "", fmt.Errorf("email %q: the domain %q has no dot", s, domain)
	case domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, ".."):
		return "", fmt.Errorf("email %q: the domain %q has a misplaced dot", s, domain)
	}
	addr, err := mail.ParseAddress(t)
	if err != nil {
		return "", fmt.Errorf("email %q is not a valid address: %w", s, err)
	}
	if addr.Address != t || addr.Name != "" {
		return "", fmt.Errorf("email %q must be a bare address, without a name or angle brackets", s)
	}
	return local + "@" + strings.ToLower(domain), nil
}
