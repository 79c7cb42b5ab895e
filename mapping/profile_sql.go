package mapping

import (
	"database/sql"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// SQL dialects a profile can hold statements for, as OpenDB returns them.
const (
	DialectSQLite    = "sqlite"
	DialectPostgres  = "postgres"
	DialectMySQL     = "mysql"
	DialectSQLServer = "sqlserver"
	DialectFirebird  = "firebird"
)

// Dialects lists the dialects medsync can open and render statements for.
var Dialects = []string{DialectSQLite, DialectPostgres, DialectMySQL, DialectSQLServer, DialectFirebird}

// KeysChunk is how many keys one by_keys query receives at most; longer key lists are
// split into several queries.
const KeysChunk = 500

// RenderSQL turns a profile statement with :name parameters into the dialect's own
// placeholder style and returns the arguments in the order the driver wants them:
// "?" for sqlite and mysql, "$1…" for postgres (a name used twice reuses its number),
// "@name" with sql.Named for sqlserver. A slice parameter (other than []byte) expands
// to a list: "IN (:keys)" becomes "IN (?, ?, ?)" and a bare "IN :keys" gets the
// parentheses added. An empty list renders as (NULL), which matches nothing.
// Colons inside string literals, quoted identifiers, comments and Postgres "::" casts
// are left alone. A parameter the statement uses but params lacks is an error.
func RenderSQL(dialect, query string, params map[string]any) (string, []any, error) {
	return renderSQL(dialect, query, func(name string) (any, bool) {
		v, ok := params[name]
		return v, ok
	})
}

func renderSQL(dialect, query string, lookup func(string) (any, bool)) (string, []any, error) {
	var (
		out     strings.Builder
		args    []any
		pgIndex map[string]int // postgres: parameter name -> $n
		msSeen  map[string]bool
	)
	out.Grow(len(query) + 16)
	n := len(query)
	for i := 0; i < n; {
		c := query[i]
		switch {
		case c == '\'' || c == '"' || c == '`' || (c == '[' && dialect == DialectSQLServer):
			end := quotedEnd(query, i)
			out.WriteString(query[i:end])
			i = end
		case c == '-' && i+1 < n && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = n - i
			}
			out.WriteString(query[i : i+end])
			i += end
		case c == '#' && dialect == DialectMySQL:
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = n - i
			}
			out.WriteString(query[i : i+end])
			i += end
		case c == '/' && i+1 < n && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				end = n
			} else {
				end = i + 2 + end + 2
			}
			out.WriteString(query[i:end])
			i = end
		case c == '$' && dialect == DialectPostgres && dollarTagEnd(query, i) > i:
			// dollar-quoted string $tag$ … $tag$
			tagEnd := dollarTagEnd(query, i)
			tag := query[i:tagEnd]
			end := strings.Index(query[tagEnd:], tag)
			if end < 0 {
				end = n
			} else {
				end = tagEnd + end + len(tag)
			}
			out.WriteString(query[i:end])
			i = end
		case c == ':' && i+1 < n && query[i+1] == ':':
			// Postgres cast (::text) or a literal double colon: copy both, and the
			// type name after it is not a parameter.
			out.WriteString("::")
			i += 2
		case c == ':' && i+1 < n && isIdentStart(query[i+1]) && (i == 0 || !isIdentChar(query[i-1])):
			j := i + 1
			for j < n && isIdentChar(query[j]) {
				j++
			}
			name := query[i+1 : j]
			v, ok := lookup(name)
			if !ok {
				return "", nil, fmt.Errorf("parameter :%s is not available to this statement", name)
			}
			if list, isList := asList(v); isList {
				parens := !prevNonSpaceIs(out.String(), '(')
				if parens {
					out.WriteByte('(')
				}
				if len(list) == 0 {
					out.WriteString("NULL")
				}
				for k, item := range list {
					if k > 0 {
						out.WriteString(", ")
					}
					switch dialect {
					case DialectPostgres:
						args = append(args, item)
						out.WriteString("$" + strconv.Itoa(len(args)))
					case DialectSQLServer:
						pn := name + "_" + strconv.Itoa(k+1)
						if !msSeen[pn] {
							if msSeen == nil {
								msSeen = map[string]bool{}
							}
							msSeen[pn] = true
							args = append(args, sql.Named(pn, item))
						}
						out.WriteString("@" + pn)
					default:
						args = append(args, item)
						out.WriteByte('?')
					}
				}
				if parens {
					out.WriteByte(')')
				}
			} else {
				switch dialect {
				case DialectPostgres:
					if pgIndex == nil {
						pgIndex = map[string]int{}
					}
					idx, seen := pgIndex[name]
					if !seen {
						args = append(args, v)
						idx = len(args)
						pgIndex[name] = idx
					}
					out.WriteString("$" + strconv.Itoa(idx))
				case DialectSQLServer:
					if !msSeen[name] {
						if msSeen == nil {
							msSeen = map[string]bool{}
						}
						msSeen[name] = true
						args = append(args, sql.Named(name, v))
					}
					out.WriteString("@" + name)
				default:
					args = append(args, v)
					out.WriteByte('?')
				}
			}
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.String(), args, nil
}

// StatementParams lists the :name parameters a statement uses, in order of first use,
// with the same rules as RenderSQL (literals, comments and casts are not parameters).
func StatementParams(dialect, query string) []string {
	var names []string
	seen := map[string]bool{}
	_, _, _ = renderSQL(dialect, query, func(name string) (any, bool) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return nil, true
	})
	return names
}

// quotedEnd returns the index just past the quoted literal or identifier starting at i.
// A doubled closing quote inside is an escaped quote.
func quotedEnd(s string, i int) int {
	open := s[i]
	closeCh := open
	if open == '[' {
		closeCh = ']'
	}
	for j := i + 1; j < len(s); j++ {
		if s[j] == closeCh {
			if j+1 < len(s) && s[j+1] == closeCh {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// dollarTagEnd returns the index past a Postgres dollar-quote tag ($$ or $tag$)
// starting at i, or i when there is none (e.g. $1).
func dollarTagEnd(s string, i int) int {
	j := i + 1
	for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || (j > i+1 && s[j] >= '0' && s[j] <= '9')) {
		j++
	}
	if j < len(s) && s[j] == '$' {
		return j + 1
	}
	return i
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func prevNonSpaceIs(s string, c byte) bool {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return s[i] == c
	}
	return false
}

// asList reports whether v is a list parameter and returns its items.
func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case nil, []byte:
		return nil, false
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []int64:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}
