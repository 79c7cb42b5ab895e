// Package convert turns the legacy values a clinic MIS stores (OLE/Delphi TDateTime
// numbers, day fractions, 0/1 and Y/N flags, free-text phones, СНИЛС, ОМС policies,
// rubles as decimals, Windows-1251 text) into the canonical forms of package mapping,
// and back where medsync writes to the MIS.
//
// Every function is safe for concurrent use and cheap enough to call for every row a
// profile reads and every cell an Excel import reads. Errors describe what is wrong
// with the value itself; the caller adds the entity, record key and column. An empty
// or NULL input where a value was expected returns an error wrapping ErrEmpty, so a
// caller can treat optional columns as absent with errors.Is(err, ErrEmpty).
package convert

import (
	"errors"

	// The embedded zone database makes LoadZone and LocalTime work on Windows
	// machines without one; it is linked into the binary once.
	_ "time/tzdata"
)

// ErrEmpty is wrapped by the errors returned for an empty string or a NULL value.
var ErrEmpty = errors.New("value is empty")
