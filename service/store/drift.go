package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Drift is the version-drift alert of one entity: a full read found records whose
// content changed while their MIS version did not, so the cheap versions path misses
// such updates until the next full read. It stays in the state store until a full
// read finds none.
type Drift struct {
	Entity string    `json:"entity"`
	Count  int       `json:"count"`
	Keys   []string  `json:"keys"` // a few of the records' keys
	At     time.Time `json:"at"`   // the full read that found them
}

// Advice is what clinic IT should do about a drift alert.
func (d Drift) Advice() string {
	return "the MIS's modified column is not touched by every update of " + d.Entity +
		": add a trigger that sets it on every update, or drop the profile's " + d.Entity +
		".versions statement (every poll then reads full rows)"
}

// driftPrefix prefixes the meta keys of drift alerts.
const driftPrefix = "version_drift:"

// DriftKey is the meta key of an entity's drift alert ("" in it: none).
func DriftKey(entity string) string { return driftPrefix + entity }

// VersionDrifts returns the open drift alerts, by entity.
func (s *Store) VersionDrifts(ctx context.Context) ([]Drift, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? AND value <> '' ORDER BY key`, len(driftPrefix), driftPrefix)
	if err != nil {
		return nil, fmt.Errorf("state store: read version drift alerts: %w", err)
	}
	defer rows.Close()
	var out []Drift
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		var d Drift
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("state store: meta %s: %w", k, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
