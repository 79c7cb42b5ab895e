package logging

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces every secret in log output.
const Mask = "******"

// MinSecretLen is the shortest secret value that is masked: masking "ab" would garble
// every line that happens to contain those letters. The config refuses shorter
// secrets at load (config.MinSecretLen is the same number).
const MinSecretLen = 4

// email and phone match personal contact data a peer may echo in an error body:
// e-mail addresses, and Russian phone numbers (+7 or 8, ten digits, any of the usual
// separators).
var (
	email = regexp.MustCompile(`[\p{L}0-9._%+\-]+@[\p{L}0-9.\-]+\.[\p{L}]{2,}`)
	phone = regexp.MustCompile(`(?:\+7|\b[78])[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}\b`)
)

// linkCode matches a 9-digit ONDOC link code, also written in groups of three
// ("123 456 789", "123-456-789"). Other 9-digit numbers are masked as well: a log
// line losing a number is cheaper than a patient's code leaking.
var linkCode = regexp.MustCompile(`(?:^|[^0-9])(\d{3}[- ]?\d{3}[- ]?\d{3})(?:[^0-9]|$)`)

// Redactor replaces known secret values, link codes, e-mail addresses and phone
// numbers in text. It is the one redaction of medsync: the log, the status page,
// /status.json, `medsync status`, `dlq list` and the errors stored in the outbox and
// the dead-letter list all pass through it.
type Redactor struct {
	secrets []string
	repl    *strings.Replacer
}

// NewRedactor returns a Redactor for the given secret values (config.Secrets).
// Empty values are ignored; longer secrets are replaced first.
func NewRedactor(secrets []string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if len(s) >= MinSecretLen {
			r.secrets = append(r.secrets, s)
		}
	}
	// strings.Replacer tries the patterns in argument order: longest first, so that a
	// secret containing another is replaced whole.
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	var pairs []string
	for _, s := range r.secrets {
		pairs = append(pairs, s, Mask)
	}
	if len(pairs) > 0 {
		r.repl = strings.NewReplacer(pairs...)
	}
	return r
}

// Redact returns s with every secret, link code, e-mail address and phone number
// replaced by Mask. A nil Redactor still masks codes, e-mails and phones.
func (r *Redactor) Redact(s string) string {
	if r != nil && r.repl != nil {
		s = r.repl.Replace(s)
	}
	s = email.ReplaceAllString(s, Mask)
	s = phone.ReplaceAllString(s, Mask)
	return maskCodes(s)
}

// RedactWith is Redact that also masks the given personal values (those of the
// record an error is about, see PersonalValues) — a peer that echoes a patient's name
// or birth date in its error body does not get them onto the status page.
func (r *Redactor) RedactWith(s string, personal []string) string {
	if len(personal) > 0 {
		sort.SliceStable(personal, func(i, j int) bool { return len(personal[i]) > len(personal[j]) })
		for _, v := range personal {
			if len([]rune(v)) >= MinSecretLen {
				s = strings.ReplaceAll(s, v, Mask)
			}
		}
	}
	return r.Redact(s)
}

// maskCodes replaces the link codes in s; a digit run longer than nine is left alone.
func maskCodes(s string) string {
	var b strings.Builder
	last := 0
	for from := 0; from < len(s); {
		m := linkCode.FindStringSubmatchIndex(s[from:])
		if m == nil {
			break
		}
		start, end := from+m[2], from+m[3]
		b.WriteString(s[last:start])
		b.WriteString(Mask)
		last = end
		from = end // the delimiter after a code may start the next one
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Handler returns a slog.Handler that redacts messages, attribute values (strings,
// errors, anything printed) and group attributes before passing them to next.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	return &redactHandler{r: r, next: next}
}

type redactHandler struct {
	r    *Redactor
	next slog.Handler
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.r.attr(a)
	}
	return &redactHandler{r: h.r, next: h.next.WithAttrs(red)}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{r: h.r, next: h.next.WithGroup(name)}
}

// attr redacts one attribute, recursing into groups.
func (r *Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = r.attr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if red := r.Redact(s); red != s {
			return slog.String(a.Key, red)
		}
		if _, isErr := v.Any().(error); isErr {
			return slog.String(a.Key, s)
		}
		return slog.Attr{Key: a.Key, Value: v}
	default:
		// Numbers, bools, times and durations: a 9-digit integer may be a link code.
		s := v.String()
		if red := r.Redact(s); red != s {
			return slog.String(a.Key, red)
		}
		return slog.Attr{Key: a.Key, Value: v}
	}
}
