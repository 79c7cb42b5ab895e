package mapping

import (
	"sort"
	"sync"
)

// UnmappedCode is a MIS code that the profile's map.<column> does not list, seen on
// rows a Source read: a status a clinic added itself, say. With a default for unknown
// codes (map.<column>.* = value) the rows are kept with Default; without one the rows
// are skipped (a required column) or the value is left out (an optional one).
type UnmappedCode struct {
	Entity, Column, Code string
	// Rows is how many distinct records carried the code (at least, past
	// maxUnmappedKeys); Keys are a few of them.
	Rows    int
	Keys    []string
	Default string // "" when the profile has no map.<column>.* for it
}

// maxUnmappedKeys bounds the keys remembered per code.
const maxUnmappedKeys = 10000

type codeKey struct{ entity, column, code string }

type codeSeen struct {
	keys    map[string]struct{}
	first   []string
	def     string
	overCap int
}

// codeCounts collects the unmapped codes of a Source; safe for concurrent use.
type codeCounts struct {
	mu sync.Mutex
	m  map[codeKey]*codeSeen
}

func (c *codeCounts) add(entity, column, code, key, def string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[codeKey]*codeSeen{}
	}
	k := codeKey{entity, column, code}
	s := c.m[k]
	if s == nil {
		s = &codeSeen{keys: map[string]struct{}{}}
		c.m[k] = s
	}
	s.def = def
	if _, dup := s.keys[key]; dup {
		return
	}
	if len(s.keys) >= maxUnmappedKeys {
		s.overCap++
		return
	}
	s.keys[key] = struct{}{}
	if len(s.first) < 5 {
		s.first = append(s.first, key)
	}
}

func (c *codeCounts) list() []UnmappedCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]UnmappedCode, 0, len(c.m))
	for k, s := range c.m {
		out = append(out, UnmappedCode{Entity: k.entity, Column: k.column, Code: k.code,
			Rows: len(s.keys) + s.overCap, Keys: append([]string(nil), s.first...), Default: s.def})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Entity != b.Entity {
			return a.Entity < b.Entity
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Code < b.Code
	})
	return out
}

// UnmappedCodes lists the codes this Source met that the profile's code tables do
// not list, per entity, column and code, with how many records carried each (for
// `medsync check` and the status page).
func (s *Source) UnmappedCodes() []UnmappedCode { return s.codes.list() }
