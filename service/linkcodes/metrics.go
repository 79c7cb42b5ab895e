package linkcodes

import (
	"context"
	"fmt"
)

// CodeStates counts link codes by state for /metrics: active, used, revoked,
// expired, canceled (an active code past its expiry counts as expired).
func (s *Service) CodeStates(ctx context.Context) (map[string]int, error) {
	rows, err := s.st.db.QueryContext(ctx, `SELECT CASE WHEN state = 'active' AND expires_at <= ? THEN 'expired' ELSE state END AS st, COUNT(*)
FROM codes GROUP BY st`, unix(s.now()))
	if err != nil {
		return nil, fmt.Errorf("link codes: state file: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
