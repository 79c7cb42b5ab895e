package app

import "medsync/service/engine"

// RowsObserver is an engine.Observer that also counts rows as a read streams them
// (the status page's and the terminal's progress of a long poll).
type RowsObserver interface {
	RowsRead(entity string, n int)
}

// rowsReporter is the Source's OnRows for obs, or nil when obs does not count rows.
func rowsReporter(obs engine.Observer) func(string, int) {
	if r, ok := obs.(RowsObserver); ok {
		return r.RowsRead
	}
	return nil
}
