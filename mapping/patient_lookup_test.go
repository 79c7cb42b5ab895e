package mapping_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

// TestPatientLookup: read.patient_lookup (the ЕПГУ/ФЭР GetPatientInfo statement) finds
// the same cards by policy, СНИЛС and name + birth date in the demo profile and in the
// views profile over the README's views, on every dialect.
func TestPatientLookup(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db, _, _, _ := demo.TestMIS(t, dialect, testSizes())
			createViews(t, db, dialect)
			now := time.Date(2025, 3, 20, 12, 0, 0, 0, moscow)
			srcs := map[string]*mapping.Source{}
			for _, p := range []string{"demo", "views"} {
				srcs[p] = newSource(t, db, dialect, p, nil, now).(*mapping.Source)
			}
			rows, err := db.Query(`SELECT PCODE, LASTNAME, FIRSTNAME, BDATE, POLIS, SNILS FROM CLIENTS WHERE DELETED = 0 AND POLIS IS NOT NULL AND SNILS IS NOT NULL ORDER BY PCODE`)
			if err != nil {
				t.Fatal(err)
			}
			type card struct{ id, last, first, birth, oms, snils string }
			var cards []card
			for rows.Next() && len(cards) < 5 {
				var c card
				var bdate float64
				if err := rows.Scan(&c.id, &c.last, &c.first, &bdate, &c.oms, &c.snils); err != nil {
					t.Fatal(err)
				}
				d, _ := convert.OLEDate(bdate)
				c.birth = d.String()
				if c.snils, err = convert.SNILS(c.snils); err == nil {
					cards = append(cards, c)
				}
			}
			rows.Close()
			if len(cards) == 0 {
				t.Fatal("no patient with policy and СНИЛС seeded")
			}
			for _, c := range cards {
				bd, _ := convert.ParseDate(c.birth)
				base := map[string]any{"last_name": c.last, "first_name": c.first, "middle_name": "",
					"birth_date": c.birth, "birth_ole": convert.ToOLE(bd), "oms": "", "snils": ""}
				with := func(k, v string) map[string]any {
					m := map[string]any{}
					for kk, vv := range base {
						m[kk] = vv
					}
					m[k] = v
					if k != "" {
						m["last_name"] = "Нет"
					}
					return m
				}
				for _, q := range []struct {
					name   string
					params map[string]any
					rank   string
				}{
					{"policy", with("oms", strings.ReplaceAll(c.oms, " ", "")), "1"},
					{"СНИЛС", with("snils", c.snils), "2"},
					{"name and birth date", base, "3"},
				} {
					for prof, src := range srcs {
						var got []string
						err := src.QueryNamed(context.Background(), "read.patient_lookup", q.params, func(r map[string]string) error {
							got = append(got, r["id"]+"/"+r["match_rank"])
							return nil
						})
						if err != nil {
							t.Fatalf("%s: %v", prof, err)
						}
						if !contains(got, c.id+"/"+q.rank) {
							t.Errorf("%s, card %s by %s: got %v", prof, c.id, q.name, got)
						}
					}
				}
			}
			var none []string
			_ = srcs["views"].QueryNamed(context.Background(), "read.patient_lookup", map[string]any{"last_name": "Нет", "first_name": "Никого",
				"middle_name": "", "birth_date": "1901-01-01", "birth_ole": 500.0, "oms": "", "snils": ""}, func(r map[string]string) error {
				none = append(none, fmt.Sprint(r))
				return nil
			})
			if len(none) != 0 {
				t.Errorf("unknown patient found: %v", none)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
