package linkcodes

import (
	"strings"
	"testing"
)

func TestNewCodeFormatAndSpread(t *testing.T) {
	const n = 200_000
	seen := make(map[string]struct{}, n)
	var first [10]int
	dups := 0
	for range n {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidCode(c) {
			t.Fatalf("code %q: want 9 digits without a leading 0", c)
		}
		if _, ok := seen[c]; ok {
			dups++
		}
		seen[c] = struct{}{}
		first[c[0]-'0']++
	}
	if first[0] != 0 {
		t.Fatalf("%d codes start with 0", first[0])
	}
	// Birthday bound: n²/(2·9e8) ≈ 22 repeats expected among raw draws; uniqueness among
	// active codes is the store's job (TestIssueRetriesOnCollision).
	if dups > 80 {
		t.Errorf("%d repeated codes in %d draws; expected about 22", dups, n)
	}
	// Chi-square of the first digit over 1..9 (8 degrees of freedom): 26.1 is p = 0.001.
	exp := float64(n) / 9
	chi := 0.0
	for d := 1; d <= 9; d++ {
		diff := float64(first[d]) - exp
		chi += diff * diff / exp
	}
	if chi > 26.1 {
		t.Errorf("first digits are not uniform: chi² = %.1f, counts %v", chi, first[1:])
	}
}

func TestValidCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"123456789", true}, {"100000000", true}, {"999999999", true}, {"012345678", false}, {"12345678", false}, {"1234567890", false}, {"12345678a", false}, {"", false}} {
		if got := ValidCode(tc.in); got != tc.want {
			t.Errorf("ValidCode(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestKeysHashSeal(t *testing.T) {
	dir := t.TempDir()
	k1, err := loadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadKeys(dir) // the same install: the same pepper
	if err != nil {
		t.Fatal(err)
	}
	other, err := loadKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := k1.hash("123456789")
	if h != k2.hash("123456789") || h == other.hash("123456789") || h == sha256Hex("123456789") {
		t.Fatal("hash must be an HMAC keyed by the install's pepper")
	}
	if strings.Contains(h, "123456789") {
		t.Fatal("hash contains the code")
	}
	sealed, err := k1.seal("123456789", "42")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.open(sealed, "42"); err != nil || got != "123456789" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := k1.open(sealed, "43"); err == nil {
		t.Fatal("a sealed code opened for another patient")
	}
	if _, err := other.open(sealed, "42"); err == nil {
		t.Fatal("a sealed code opened with another install's key")
	}
}

func TestNormalizeContacts(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"+7 (916) 123-45-67", "79161234567", true},
		{"89161234567", "79161234567", true},
		{"9161234567", "79161234567", true},
		{"+7 495 123-45-67", "", false}, // landline
		{"12345", "", false},
		{"телефон", "", false},
	} {
		got, ok := normalizePhone(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizePhone(%q) = %q, %v", tc.in, got, ok)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{"ivanov@mail.ru", true}, {"ivanov@mail", false}, {"Иванов <i@mail.ru>", false}, {"ivanov.mail.ru", false}, {"i@mail.ru.", false}} {
		if got := validEmail(tc.in); got != tc.ok {
			t.Errorf("validEmail(%q) = %v", tc.in, got)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr       string
		tls, optOK bool
		ok         bool
	}{
		{"127.0.0.1:8470", false, false, true},
		{"localhost:8470", false, false, true},
		{"[::1]:8470", false, false, true},
		{":8470", false, false, false},
		{"0.0.0.0:8470", false, false, false},
		{"192.168.1.10:8470", false, false, false},
		{"192.168.1.10:8470", true, false, true},
		{"192.168.1.10:8470", false, true, true},
		{"nonsense", true, true, false},
	} {
		err := CheckListen(tc.addr, tc.tls, tc.optOK)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, tls=%v, optout=%v) = %v", tc.addr, tc.tls, tc.optOK, err)
		}
		if err != nil && tc.addr != "nonsense" && !strings.Contains(err.Error(), "allow_plain_http_on_lan") {
			t.Errorf("error does not name the opt-out: %v", err)
		}
	}
}
