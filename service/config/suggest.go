package config

import (
	"fmt"
	"strings"
)

// distance is the optimal string alignment (restricted Damerau–Levenshtein) distance:
// insertions, deletions, substitutions and transpositions of neighbours each cost 1, so
// "drvier" is one edit away from "driver".
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// closest returns the candidate nearest to s, or "" when none is near enough to be a
// plausible typo.
func closest(s string, candidates []string) string {
	s = strings.ToLower(s)
	best, bestD := "", 0
	for _, c := range candidates {
		d := distance(s, strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len([]rune(s))/3)
	if best == "" || bestD > limit || bestD >= len([]rune(s)) {
		return ""
	}
	return best
}

// unknownMsg says what is wrong with an unknown name and what would be right.
func unknownMsg(what, name string, known []string) string {
	if c := closest(name, known); c != "" {
		return fmt.Sprintf("unknown %s; did you mean %q?", what, c)
	}
	// "token" for "token_company" and "token_branch": offer the keys it is part of.
	var part []string
	lower := strings.ToLower(name)
	for _, k := range known {
		if len(lower) >= 3 && strings.Contains(strings.ToLower(k), lower) {
			part = append(part, fmt.Sprintf("%q", k))
		}
	}
	if len(part) > 0 {
		return fmt.Sprintf("unknown %s; did you mean %s?", what, strings.Join(part, " or "))
	}
	return fmt.Sprintf("unknown %s; allowed: %s", what, strings.Join(known, ", "))
}
