package mapping

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"time"
)

// VersionToken turns a MIS version value — a modified time as a number (OLE date),
// a timestamp, an integer counter, SQL Server rowversion bytes, text — into a 64-bit
// token: equal values give equal tokens. It never returns 0, which means "no
// version". NULL gives 0.
func VersionToken(v any) uint64 {
	h := fnv.New64a()
	var b [9]byte
	switch x := v.(type) {
	case nil:
		return 0
	case int64:
		b[0] = 'i'
		binary.LittleEndian.PutUint64(b[1:], uint64(x))
		h.Write(b[:])
	case float64:
		b[0] = 'f'
		binary.LittleEndian.PutUint64(b[1:], math.Float64bits(x))
		h.Write(b[:])
	case time.Time:
		b[0] = 't'
		binary.LittleEndian.PutUint64(b[1:], uint64(x.UnixNano()))
		h.Write(b[:])
	case []byte:
		h.Write([]byte{'b'})
		h.Write(x)
	case string:
		h.Write([]byte{'b'})
		h.Write([]byte(x))
	case bool:
		if x {
			h.Write([]byte{'T'})
		} else {
			h.Write([]byte{'F'})
		}
	default:
		return 0
	}
	if s := h.Sum64(); s != 0 {
		return s
	}
	return 1
}

// versionScanner receives a version column without converting it to text.
type versionScanner struct{ token uint64 }

func (v *versionScanner) Scan(src any) error {
	v.token = VersionToken(src)
	return nil
}
