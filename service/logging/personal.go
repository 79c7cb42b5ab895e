package logging

import (
	"encoding/json"
	"strings"
)

// personalFields are the canonical model's fields (mapping) that hold a person's
// data: what a patient or doctor record must never show on a page without login.
var personalFields = map[string]bool{
	"last_name": true, "first_name": true, "middle_name": true, "birth_date": true,
	"phone": true, "email": true, "snils": true, "oms": true, "card_number": true,
	"comment": true, "address": true, "passport": true,
}

// PersonalValues returns the personal values (names, birth date, phone, e-mail,
// СНИЛС, …) found anywhere in an event's JSON record, with the other common spellings
// of a birth date (DD.MM.YYYY) and of a phone (without +), for RedactWith.
func PersonalValues(data json.RawMessage) []string {
	if len(data) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(k, c)
			}
		case []any:
			for _, c := range x {
				walk(key, c)
			}
		case string:
			if personalFields[key] && x != "" {
				out = append(out, spellings(key, x)...)
			}
		}
	}
	walk("", v)
	return out
}

func spellings(key, v string) []string {
	out := []string{v}
	switch key {
	case "birth_date":
		if len(v) == 10 && v[4] == '-' && v[7] == '-' {
			out = append(out, v[8:10]+"."+v[5:7]+"."+v[0:4])
		}
	case "phone":
		if d := strings.TrimPrefix(v, "+"); d != v {
			out = append(out, d)
		}
	}
	return out
}
