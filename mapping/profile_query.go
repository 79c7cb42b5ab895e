package mapping

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"medsync/mapping/convert"
)

// HasStatement reports whether the profile declares the named statement (e.g.
// "read.link_find_name") for the source's dialect.
func (s *Source) HasStatement(name string) bool {
	_, ok := s.p.stmts[s.dialect][name]
	return ok
}

// QueryNamed runs a profile's named read statement (read.<name>) with named parameters
// and calls fn once per row with the row's columns by lower-case name, every value as
// text ("" for NULL; cp1251 text decoded when the source's charset says so). Besides
// params the statement may use :today_date ('YYYY-MM-DD') and :today_ole. It is what
// features outside the sync (patient search for link codes, MIS flags) read through.
func (s *Source) QueryNamed(ctx context.Context, name string, params map[string]any, fn func(row map[string]string) error) error {
	st, err := s.p.statement(s.dialect, name)
	if err != nil {
		return err
	}
	all := map[string]any{}
	today := time.Now()
	if s.opt.Zone != nil {
		today = today.In(s.opt.Zone)
	}
	all["today_date"] = today.Format("2006-01-02")
	all["today_ole"] = convert.ToOLE(convert.FromTime(today))
	for k, v := range params {
		all[k] = v
	}
	rows, cancel, err := s.query(ctx, st, all)
	if err != nil {
		return err
	}
	defer cancel()
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return s.stmtErr(st, err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return s.stmtErr(st, err)
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[strings.ToLower(c)] = s.queryText(vals[i])
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.stmtErr(st, err)
	}
	return nil
}

func (s *Source) queryText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return s.decodeText(string(x))
	case string:
		return s.decodeText(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.Format(time.RFC3339)
	default:
		return fmt.Sprint(x)
	}
}

func (s *Source) decodeText(v string) string {
	if s.opt.Charset == "cp1251" && !utf8.ValidString(v) {
		if d, err := charmap.Windows1251.NewDecoder().String(v); err == nil {
			return d
		}
	}
	return v
}
