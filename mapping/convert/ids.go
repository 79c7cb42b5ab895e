package convert

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// snilsUncheckedMax is the largest СНИЛС number (first nine digits) that carries no
// checksum: the Pension Fund checks only numbers above 001-001-998.
const snilsUncheckedMax = 1001998

// SNILS normalises a СНИЛС (Russian personal insurance account number) to its 11
// digits, accepting "112-233-445 95", "11223344595", spaces in any place and a number
// a spreadsheet stored as a float ("11223344595.0"), and verifies the checksum.
//
// The checksum rule of the Pension Fund: the sum of the first nine digits, each
// multiplied by its weight 9, 8, …, 1; a sum below 100 is the check number, 100 and 101
// give 00, and a larger sum is first taken modulo 101 and then the same rule applies.
// Numbers up to 001-001-998 are not checked.
//
// Errors do not repeat the number (it is personal data that ends up in logs); the
// caller's record key identifies the row.
func SNILS(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("СНИЛС: %w", ErrEmpty)
	}
	if n, ok, _ := excelInteger(t); ok {
		t = n
	}
	var d [11]byte
	n := 0
	for _, r := range t {
		switch {
		case r >= '0' && r <= '9':
			if n == len(d) {
				return "", errors.New("СНИЛС has more than 11 digits")
			}
			d[n] = byte(r)
			n++
		case r == ' ' || r == '-' || r == '\u00a0' || r == '\u2010' || r == '\u2011' || r == '\u2013' || r == '\u2014':
		default:
			return "", fmt.Errorf("СНИЛС contains %q; it must be 11 digits written as XXX-XXX-XXX YY", r)
		}
	}
	if n < 11 {
		hint := ""
		if n >= 9 {
			hint = " (a spreadsheet may have dropped leading zeros: format the column as text)"
		}
		return "", fmt.Errorf("СНИЛС has %d digits instead of 11%s", n, hint)
	}
	number := 0
	sum := 0
	for i := 0; i < 9; i++ {
		v := int(d[i] - '0')
		number = number*10 + v
		sum += v * (9 - i)
	}
	if number > snilsUncheckedMax {
		want := snilsCheck(sum)
		got := int(d[9]-'0')*10 + int(d[10]-'0')
		if got != want {
			return "", fmt.Errorf("СНИЛС ending in %02d fails its checksum (the last two digits should be %02d); check for a typo", got, want)
		}
	}
	return string(d[:]), nil
}

// snilsCheck returns the two-digit check number for a weighted digit sum.
func snilsCheck(sum int) int {
	if sum > 101 {
		sum %= 101
	}
	if sum < 100 {
		return sum
	}
	return 0
}

// FormatSNILS formats 11 СНИЛС digits as "123-456-789 64", the way documents print it.
// Anything else is returned unchanged.
func FormatSNILS(s string) string {
	if len(s) != 11 {
		return s
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return s
		}
	}
	return s[0:3] + "-" + s[3:6] + "-" + s[6:9] + " " + s[9:11]
}

// OMS normalises an ОМС (obligatory medical insurance) policy number. A unified
// 16-digit policy (ЕНП), with or without spaces and dashes, is returned as its 16
// digits. Older forms — a series and a number ("ЕР 1234567890", "77 00 123456"), or a
// temporary certificate's 9 digits — are returned as typed, trimmed and with runs of
// spaces collapsed, if they hold at least 6 digits and only letters, digits, spaces,
// dashes and "№". Empty values, all-zero numbers and anything else are errors.
// The ЕНП check digit is not verified. Like SNILS, errors do not repeat the number.
func OMS(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("ОМС policy: %w", ErrEmpty)
	}
	if n, ok, _ := excelInteger(t); ok {
		t = n
	}
	var digits [16]byte
	nd, nonZero, letters := 0, false, false
	for _, r := range t {
		switch {
		case r >= '0' && r <= '9':
			if nd < len(digits) {
				digits[nd] = byte(r)
			}
			nd++
			nonZero = nonZero || r != '0'
		case r == ' ' || r == '-' || r == '\u00a0' || r == '\t':
		case r == '№' || unicode.IsLetter(r):
			letters = true
		default:
			return "", fmt.Errorf("ОМС policy contains %q; keep only the series and the number", r)
		}
	}
	switch {
	case nd == 0:
		return "", errors.New("ОМС policy has no digits")
	case !nonZero:
		return "", errors.New("ОМС policy is all zeros")
	case !letters && nd == 16:
		return string(digits[:]), nil
	case !letters && nd > 16:
		return "", fmt.Errorf("ОМС policy has %d digits; a unified policy has 16", nd)
	case nd < 6:
		return "", fmt.Errorf("ОМС policy has only %d digits; a unified policy has 16, older forms at least 6", nd)
	}
	return strings.Join(strings.Fields(t), " "), nil
}
