package convert

import (
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// flagWords maps the spellings of a flag to its value; matched case-insensitively.
var flagWords = [...]struct {
	word string
	val  bool
}{
	{"1", true}, {"0", false}, {"-1", true},
	{"y", true}, {"n", false}, {"t", true}, {"f", false},
	{"yes", true}, {"no", false}, {"true", true}, {"false", false},
	{"да", true}, {"нет", false}, {"д", true}, {"н", false},
	{"истина", true}, {"ложь", false}, // Russian Excel TRUE/FALSE
}

// Flag reads a yes/no value the way MIS databases and spreadsheets store it: a bool,
// integers and floats 0 and 1 (and -1, the True of MS Access, VB and some Delphi
// code), or text "0"/"1", "Y"/"N", "T"/"F", "yes"/"no", "true"/"false", "да"/"нет",
// "Д"/"Н", "ИСТИНА"/"ЛОЖЬ" in any case, given as string or []byte. NULL (nil) and
// empty text are ErrEmpty; any other value is an error naming it.
func Flag(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, fmt.Errorf("flag: %w (NULL)", ErrEmpty)
	case bool:
		return x, nil
	case int:
		return flagInt(int64(x))
	case int8:
		return flagInt(int64(x))
	case int16:
		return flagInt(int64(x))
	case int32:
		return flagInt(int64(x))
	case int64:
		return flagInt(x)
	case uint8:
		return flagInt(int64(x))
	case uint16:
		return flagInt(int64(x))
	case uint32:
		return flagInt(int64(x))
	case uint64:
		if x > 1 {
			return false, fmt.Errorf("flag %d is neither 0 nor 1", x)
		}
		return x == 1, nil
	case uint:
		return Flag(uint64(x))
	case float32:
		return Flag(float64(x))
	case float64:
		switch x {
		case 0:
			return false, nil
		case 1, -1:
			return true, nil
		}
		return false, fmt.Errorf("flag %v is neither 0 nor 1", x)
	case string:
		return flagText(x)
	case []byte:
		return flagText(string(x))
	}
	return false, fmt.Errorf("flag has unsupported type %T (value %v)", v, v)
}

func flagInt(x int64) (bool, error) {
	switch x {
	case 0:
		return false, nil
	case 1, -1:
		return true, nil
	}
	return false, fmt.Errorf("flag %d is neither 0 nor 1", x)
}

func flagText(s string) (bool, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return false, fmt.Errorf("flag: %w", ErrEmpty)
	}
	for _, w := range flagWords {
		if strings.EqualFold(t, w.word) {
			return w.val, nil
		}
	}
	return false, fmt.Errorf("flag %q is not one of 0/1, Y/N, T/F, yes/no, true/false, да/нет", s)
}

// maxRubles bounds amounts so that kopecks fit in an int64 with room to spare.
const maxRubles = math.MaxInt64 / 100

// Kopecks converts an amount in rubles to whole kopecks, as prices are kept.
//
// Text (string or []byte: SQL drivers return NUMERIC, DECIMAL and MONEY columns so) is
// parsed exactly, with no floating point: "1500.50", "1500,5", "1 500,50", "1500.5000"
// (SQL Server money), "-20", with an optional "₽", "руб", "руб." or "р." after the
// number. A single '.' or ',' is the decimal separator; with both, the last one is,
// and the other groups thousands; several of the same kind group thousands
// ("1.500.000"). Non-zero digits beyond kopecks are an error, never rounded away.
//
// Integers are whole rubles. float64/float32 (FLOAT columns, spreadsheet cells) are
// taken at their shortest decimal form and rounded half away from zero to the kopeck,
// so 1.005 is 101 kopecks. decimal.Decimal values are accepted too. NULL and empty
// text are ErrEmpty.
func Kopecks(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, fmt.Errorf("amount: %w (NULL)", ErrEmpty)
	case string:
		return parseKopecks(x)
	case []byte:
		return parseKopecks(string(x))
	case int:
		return rublesInt(int64(x))
	case int32:
		return rublesInt(int64(x))
	case int64:
		return rublesInt(x)
	case uint32:
		return rublesInt(int64(x))
	case float32:
		if err := checkFloatAmount(float64(x)); err != nil {
			return 0, err
		}
		return decimal.NewFromFloat32(x).Shift(2).Round(0).IntPart(), nil
	case float64:
		if err := checkFloatAmount(x); err != nil {
			return 0, err
		}
		return decimal.NewFromFloat(x).Shift(2).Round(0).IntPart(), nil
	case decimal.Decimal:
		return decimalKopecks(x)
	}
	return 0, fmt.Errorf("amount has unsupported type %T (value %v)", v, v)
}

func rublesInt(x int64) (int64, error) {
	if x > maxRubles || x < -maxRubles {
		return 0, fmt.Errorf("amount %d rubles is too large", x)
	}
	return x * 100, nil
}

func checkFloatAmount(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("amount %v is not a number", f)
	}
	if math.Abs(f) >= 1e15 {
		return fmt.Errorf("amount %v rubles is too large", f)
	}
	return nil
}

var (
	decMax = decimal.NewFromInt(maxRubles)
	decMin = decMax.Neg()
)

func decimalKopecks(d decimal.Decimal) (int64, error) {
	if d.GreaterThan(decMax) || d.LessThan(decMin) {
		return 0, fmt.Errorf("amount %s rubles is too large", d)
	}
	k := d.Shift(2)
	if !k.IsInteger() {
		return 0, fmt.Errorf("amount %s has fractions of a kopeck", d)
	}
	return k.IntPart(), nil
}

// parseKopecks parses a ruble amount written as text; see Kopecks.
func parseKopecks(s string) (int64, error) {
	t := strings.TrimSpace(s)
	for _, suffix := range [...]string{"₽", "руб.", "руб", "р."} {
		if len(t) >= len(suffix) && strings.EqualFold(t[len(t)-len(suffix):], suffix) {
			t = strings.TrimSpace(t[:len(t)-len(suffix)])
			if t == "" {
				return 0, fmt.Errorf("amount %q has no digits", s)
			}
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("amount: %w", ErrEmpty)
	}
	neg := false
	switch t[0] {
	case '-':
		neg, t = true, t[1:]
	case '+':
		t = t[1:]
	}
	// Find the decimal separator: the last '.' or ',' unless that kind repeats.
	dots, commas := strings.Count(t, "."), strings.Count(t, ",")
	dec := -1
	switch {
	case dots > 0 && commas > 0:
		dec = max(strings.LastIndexByte(t, '.'), strings.LastIndexByte(t, ','))
		if (t[dec] == '.' && dots > 1) || (t[dec] == ',' && commas > 1) {
			return 0, fmt.Errorf("amount %q has more than one decimal separator", s)
		}
	case dots == 1:
		dec = strings.IndexByte(t, '.')
	case commas == 1:
		dec = strings.IndexByte(t, ',')
	}
	var rub, kop int64
	intDigits, fracDigits := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isDigit(c):
			v := int64(c - '0')
			if dec >= 0 && i > dec {
				fracDigits++
				switch {
				case fracDigits <= 2:
					kop = kop*10 + v
				case v != 0:
					return 0, fmt.Errorf("amount %q has fractions of a kopeck", s)
				}
				continue
			}
			if rub > (maxRubles-v)/10 {
				return 0, fmt.Errorf("amount %q is too large", s)
			}
			rub = rub*10 + v
			intDigits++
		case i == dec:
		case (c == '.' || c == ',' || c == ' ' || c == '\'') && (dec < 0 || i < dec):
			// thousands grouping
		case c == 0xC2 && i+1 < len(t) && t[i+1] == 0xA0 && (dec < 0 || i < dec):
			i++ // U+00A0 no-break space grouping
		case c == 0xE2 && i+2 < len(t) && t[i+1] == 0x80 && (t[i+2] == 0xAF || t[i+2] == 0x89) && (dec < 0 || i < dec):
			i += 2 // U+202F / U+2009 thin space grouping
		default:
			return 0, fmt.Errorf("amount %q is not a number of rubles like 1500.50 or 1 500,50", s)
		}
	}
	if intDigits == 0 && fracDigits == 0 {
		return 0, fmt.Errorf("amount %q has no digits", s)
	}
	if fracDigits == 1 {
		kop *= 10
	}
	if rub > (math.MaxInt64-kop)/100 {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	k := rub*100 + kop
	if neg {
		k = -k
	}
	return k, nil
}
