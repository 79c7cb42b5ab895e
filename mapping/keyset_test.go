package mapping

import (
	"strconv"
	"testing"
)

// TestKeySet: every key is new once and a duplicate after, across the table's growth.
func TestKeySet(t *testing.T) {
	k := newKeySet()
	const n = 200_000
	for i := 0; i < n; i++ {
		if !k.add(strconv.Itoa(i)) {
			t.Fatalf("key %d taken for a duplicate on first sight", i)
		}
	}
	for i := 0; i < n; i += 7 {
		if k.add(strconv.Itoa(i)) {
			t.Fatalf("key %d not recognised the second time", i)
		}
	}
	if k.n != n || len(k.slots) < 2*n {
		t.Errorf("%d keys in %d slots", k.n, len(k.slots))
	}
}
