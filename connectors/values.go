package connectors

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Values is a connector's config section after defaults are filled in. Its getters
// return errors that name the file, the section and the key, for clinic IT to act on.
type Values struct {
	File    string
	Section string
	m       map[string]string
}

// NewValues builds Values; m maps option names to their effective values.
func NewValues(file, section string, m map[string]string) *Values {
	if m == nil {
		m = map[string]string{}
	}
	return &Values{File: file, Section: section, m: m}
}

func (v *Values) errf(key, format string, a ...any) error {
	return fmt.Errorf("%s: [%s] %s: %s", v.File, v.Section, key, fmt.Sprintf(format, a...))
}

// String returns the value of key ("" when unset).
func (v *Values) String(key string) string { return strings.TrimSpace(v.m[key]) }

// Required returns the value of key or an error saying it must be set.
func (v *Values) Required(key string) (string, error) {
	s := v.String(key)
	if s == "" {
		return "", v.errf(key, "is required but empty")
	}
	return s, nil
}

// Int parses key as an integer within [min, max].
func (v *Values) Int(key string, min, max int) (int, error) {
	s := v.String(key)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, v.errf(key, "%q is not a whole number", s)
	}
	if n < min || n > max {
		return 0, v.errf(key, "%d is out of range %d..%d", n, min, max)
	}
	return n, nil
}

// Bool parses key as true/false (also yes/no, 1/0, on/off).
func (v *Values) Bool(key string) (bool, error) {
	switch strings.ToLower(v.String(key)) {
	case "true", "yes", "1", "on":
		return true, nil
	case "false", "no", "0", "off", "":
		return false, nil
	}
	return false, v.errf(key, "%q is not true or false", v.String(key))
}

// Duration parses key as a Go duration ("30s", "5m") or a bare number of seconds.
func (v *Values) Duration(key string) (time.Duration, error) {
	s := v.String(key)
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, v.errf(key, "%q is not a duration such as 30s or 5m", s)
	}
	return d, nil
}

// List splits key on commas, trimming spaces and dropping empty items.
func (v *Values) List(key string) []string {
	var out []string
	for _, p := range strings.Split(v.String(key), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Error builds an error about key in this section.
func (v *Values) Error(key, format string, a ...any) error { return v.errf(key, format, a...) }

// Keys lists the keys present in the section that start with prefix, sorted. Connectors
// with a pattern option (such as "org.*.inbox") use it to find every key of the family.
func (v *Values) Keys(prefix string) []string {
	var out []string
	for k := range v.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
