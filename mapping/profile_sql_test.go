package mapping_test

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"

	"medsync/mapping"
)

func TestRenderSQL(t *testing.T) {
	params := map[string]any{"from": 1, "to": 2, "keys": []string{"a", "b", "c"}, "none": []int{}, "name": "x"}
	tests := []struct {
		name, dialect, in, want string
		args                    []any
	}{
		{"sqlite positional", "sqlite", "SELECT * FROM T WHERE A >= :from AND A < :to AND B >= :from",
			"SELECT * FROM T WHERE A >= ? AND A < ? AND B >= ?", []any{1, 2, 1}},
		{"mysql positional", "mysql", "SELECT :name", "SELECT ?", []any{"x"}},
		{"postgres numbered, reused", "postgres", "SELECT * FROM T WHERE A >= :from AND A < :to AND B >= :from",
			"SELECT * FROM T WHERE A >= $1 AND A < $2 AND B >= $1", []any{1, 2}},
		{"sqlserver named", "sqlserver", "SELECT * FROM T WHERE A >= :from AND B >= :from AND C < :to",
			"SELECT * FROM T WHERE A >= @from AND B >= @from AND C < @to", []any{sql.Named("from", 1), sql.Named("to", 2)}},
		{"list in parentheses", "sqlite", "WHERE ID IN (:keys)", "WHERE ID IN (?, ?, ?)", []any{"a", "b", "c"}},
		{"bare list gets parentheses", "mysql", "WHERE ID IN :keys", "WHERE ID IN (?, ?, ?)", []any{"a", "b", "c"}},
		{"list postgres", "postgres", "WHERE A = :name AND ID IN ( :keys )", "WHERE A = $1 AND ID IN ( $2, $3, $4 )", []any{"x", "a", "b", "c"}},
		{"list sqlserver", "sqlserver", "WHERE ID IN (:keys)", "WHERE ID IN (@keys_1, @keys_2, @keys_3)",
			[]any{sql.Named("keys_1", "a"), sql.Named("keys_2", "b"), sql.Named("keys_3", "c")}},
		{"empty list", "sqlite", "WHERE ID IN (:none)", "WHERE ID IN (NULL)", nil},
		{"string literal", "sqlite", "SELECT ':from', 'it''s :to' , :name", "SELECT ':from', 'it''s :to' , ?", []any{"x"}},
		{"line comment", "postgres", "SELECT 1 -- :from here\n, :name", "SELECT 1 -- :from here\n, $1", []any{"x"}},
		{"block comment", "sqlserver", "SELECT /* :from */ :name", "SELECT /* :from */ @name", []any{sql.Named("name", "x")}},
		{"postgres cast", "postgres", "SELECT :name::text, x::int, '1'::date", "SELECT $1::text, x::int, '1'::date", []any{"x"}},
		{"quoted identifier", "postgres", `SELECT "a:from" FROM t`, `SELECT "a:from" FROM t`, nil},
		{"bracket identifier", "sqlserver", "SELECT [a:from] FROM t", "SELECT [a:from] FROM t", nil},
		{"backtick identifier", "mysql", "SELECT `a:from` FROM t", "SELECT `a:from` FROM t", nil},
		{"dollar quote", "postgres", "SELECT $$ :from $$, $tag$ :to $tag$, :name", "SELECT $$ :from $$, $tag$ :to $tag$, $1", []any{"x"}},
		{"time literal colons", "sqlite", "SELECT '09:30', time(x) > '10:00:00'", "SELECT '09:30', time(x) > '10:00:00'", nil},
		{"word char before colon", "sqlite", "SELECT a:from", "SELECT a:from", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, args, err := mapping.RenderSQL(tt.dialect, tt.in, params)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(args, tt.args) {
				t.Errorf("args %#v, want %#v", args, tt.args)
			}
		})
	}
	_, _, err := mapping.RenderSQL("sqlite", "SELECT :missing", params)
	if err == nil || !strings.Contains(err.Error(), ":missing") {
		t.Errorf("missing parameter: %v", err)
	}
}

func TestStatementParams(t *testing.T) {
	got := mapping.StatementParams("postgres", "INSERT INTO T VALUES (:a, :b::int, ':c', :a) -- :d")
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("StatementParams = %v", got)
	}
}
