package connectors

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// PermanentError marks an event the peer will never accept as it is: it goes to the
// dead-letter list with Reason, and the rest of the queue moves on.
type PermanentError struct {
	Reason string // for the operator: which record, which field, what to do
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return fmt.Sprintf("%s: %v", e.Reason, e.Err)
}
func (e *PermanentError) Unwrap() error { return e.Err }

// TransientError marks a failure worth retrying later (timeouts, 429, 5xx).
// RetryAfter, when set, is the peer's own wish (the Retry-After header).
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// PeerTextMax is how many characters of a peer's answer an error carries at most.
const PeerTextMax = 200

var markup = regexp.MustCompile(`<[^>]*>`)

// PeerText is the part of a peer's answer body (or of the message in it) that an
// error may carry: markup and control characters dropped, whitespace collapsed, at
// most PeerTextMax characters ("…" when cut). A peer's body may echo the record sent
// — a patient's data — so a connector puts its status code and this short reason
// into an error, never the body verbatim; the engine then masks what personal data
// is left before the error is stored or shown.
func PeerText(body string) string {
	s := markup.ReplaceAllString(body, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > PeerTextMax {
		s = string(r[:PeerTextMax]) + "…"
	}
	return s
}

// Permanent wraps err as a permanent failure with an operator-readable reason.
func Permanent(reason string, err error) error { return &PermanentError{Reason: reason, Err: err} }

// Reason is what an operator reads of err: the outermost permanent failure's Reason
// (it already names the record, the field and what to do; the errors it wraps repeat
// the same peer answer in other words), else the whole error text.
func Reason(err error) string {
	var p *PermanentError
	if errors.As(err, &p) && p.Reason != "" {
		return p.Reason
	}
	return err.Error()
}

// Transient wraps err as a transient failure; retryAfter may be zero.
func Transient(err error, retryAfter time.Duration) error {
	return &TransientError{Err: err, RetryAfter: retryAfter}
}

// IsPermanent reports whether err is (or wraps) a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter returns the peer's requested delay carried by err, or zero.
func RetryAfter(err error) time.Duration {
	var t *TransientError
	if errors.As(err, &t) {
		return t.RetryAfter
	}
	return 0
}
