package convert

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func TestFlag(t *testing.T) {
	tests := []struct {
		in      any
		want    bool
		wantErr string
	}{
		{true, true, ""},
		{false, false, ""},
		{0, false, ""},
		{1, true, ""},
		{-1, true, ""},
		{int8(1), true, ""},
		{int16(0), false, ""},
		{int32(1), true, ""},
		{int64(1), true, ""},
		{int64(0), false, ""},
		{uint8(1), true, ""},
		{uint16(0), false, ""},
		{uint32(1), true, ""},
		{uint64(1), true, ""},
		{uint(0), false, ""},
		{float64(1), true, ""},
		{float64(0), false, ""},
		{float32(1), true, ""},
		{"1", true, ""},
		{"0", false, ""},
		{" Y ", true, ""},
		{"n", false, ""},
		{"T", true, ""},
		{"f", false, ""},
		{"Yes", true, ""},
		{"NO", false, ""},
		{"true", true, ""},
		{"FALSE", false, ""},
		{"Да", true, ""},
		{"НЕТ", false, ""},
		{"д", true, ""},
		{"Н", false, ""},
		{"ИСТИНА", true, ""},
		{"ложь", false, ""},
		{[]byte("Y"), true, ""},
		{[]byte("0"), false, ""},
		{nil, false, "empty"},
		{"", false, "empty"},
		{[]byte(" "), false, "empty"},
		{2, false, "flag 2 is neither 0 nor 1"},
		{int64(-2), false, "neither 0 nor 1"},
		{uint64(7), false, "flag 7 is neither 0 nor 1"},
		{0.5, false, "flag 0.5 is neither 0 nor 1"},
		{math.NaN(), false, "neither 0 nor 1"},
		{"2", false, `flag "2" is not one of`},
		{"maybe", false, "is not one of 0/1, Y/N"},
		{[]byte("+"), false, "is not one of"},
		{struct{}{}, false, "unsupported type struct {}"},
	}
	for _, tt := range tests {
		got, err := Flag(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Flag(%#v) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Flag(%#v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, v := range []any{nil, "", []byte{}} {
		if _, err := Flag(v); !errors.Is(err, ErrEmpty) {
			t.Errorf("Flag(%#v) = %v, want ErrEmpty", v, err)
		}
	}
}

func TestKopecks(t *testing.T) {
	tests := []struct {
		in      any
		want    int64
		wantErr string
	}{
		{"1500.50", 150050, ""},
		{"1500,50", 150050, ""},
		{"1 500,50", 150050, ""},
		{"1\u00a0500,50", 150050, ""},
		{"1\u202f500,5", 150050, ""},
		{"1,500.50", 150050, ""},
		{"1.500.000", 150000000, ""},
		{"1.500.000,25", 150000025, ""},
		{"1'500.75", 150075, ""},
		{"1500", 150000, ""},
		{"1500.5", 150050, ""},
		{"1500.5000", 150050, ""}, // SQL Server money
		{"0.01", 1, ""},
		{".5", 50, ""},
		{"5.", 500, ""},
		{"-20.10", -2010, ""},
		{"+20", 2000, ""},
		{"1500 руб.", 150000, ""},
		{"1500руб", 150000, ""},
		{"1 500,00 ₽", 150000, ""},
		{"1500 р.", 150000, ""},
		{" 0 ", 0, ""},
		{"92233720368547758.07", 9223372036854775807, ""},
		{[]byte("1234.56"), 123456, ""},
		{1500, 150000, ""},
		{int32(-3), -300, ""},
		{int64(7), 700, ""},
		{uint32(2), 200, ""},
		{1500.5, 150050, ""},
		{0.1 + 0.2, 30, ""},
		{1.005, 101, ""}, // shortest form 1.005, half away from zero
		{19.99, 1999, ""},
		{-0.015, -2, ""},
		{float32(19.99), 1999, ""},
		{decimal.RequireFromString("1500.50"), 150050, ""},

		{nil, 0, "empty"},
		{"", 0, "empty"},
		{" руб.", 0, "has no digits"},
		{"92233720368547758.08", 0, "too large"},
		{"-92233720368547758.07", -9223372036854775807, ""},
		{"1500.505", 0, "fractions of a kopeck"},
		{"1500,001", 0, "fractions of a kopeck"},
		{decimal.RequireFromString("0.001"), 0, "fractions of a kopeck"},
		{"1,500,000.00.5", 0, "more than one decimal separator"},
		{"1.500,000,5", 0, "more than one decimal separator"},
		{"-", 0, "has no digits"},
		{"1.5e3", 0, "is not a number of rubles"},
		{"abc", 0, "is not a number of rubles"},
		{"15 00.50 $", 0, "is not a number of rubles"},
		{"--5", 0, "is not a number of rubles"},
		{"1 500,5 0", 0, "is not a number of rubles"},
		{"92233720368547758.08x", 0, "is not a number of rubles"},
		{"92233720368547759", 0, "too large"},
		{int64(math.MaxInt64), 0, "too large"},
		{1e16, 0, "too large"},
		{decimal.RequireFromString("1e30"), 0, "too large"},
		{math.NaN(), 0, "not a number"},
		{math.Inf(-1), 0, "not a number"},
		{float32(math.Inf(1)), 0, "not a number"},
		{true, 0, "unsupported type bool"},
	}
	for _, tt := range tests {
		got, err := Kopecks(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Kopecks(%#v) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Kopecks(%#v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := Kopecks(" "); !errors.Is(err, ErrEmpty) {
		t.Errorf("Kopecks(\" \") = %v, want ErrEmpty", err)
	}
}
