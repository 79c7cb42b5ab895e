package engine

import (
	"context"
	"maps"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/service/store"
)

// A partial poll (DESIGN.md, "Reading the MIS cheaply"): when some days moved, the
// stored summary may be relied on (summaryCheck.stored) and the profile declares
// <entity>.changed, the rows changed since the last poll are read first and only
// their keys' snapshot records are loaded (store.LoadPartial). If those rows then
// explain every day of the window — each day's row count and checksum, with the
// changed rows taken out of their old days and put into their new ones, are the
// MIS's — every other record is unchanged and present, and the poll goes on over the
// partial snapshot: the changed rows are read in full and compared, and what vanished
// among them is looked up and guarded as always. A day left unexplained (a deletion,
// a row whose version was not touched) sends the poll down the whole-snapshot path,
// with the rows already read.
//
// The summary stored with the commit is the stored one with the loaded records' old
// figures taken out and their new ones put in (partialBase), so it describes the
// whole snapshot exactly as a whole load would have computed it.

// partialShare bounds a partial poll: when more than 1/partialShare of the records
// changed, loading the whole snapshot costs about as much.
const partialShare = 20

// partialBase is what a partial poll needs to store the whole snapshot's summary.
type partialBase struct {
	stored map[convert.Date]daySum // the stored summary the poll relied on
	loaded map[convert.Date]daySum // the loaded records' figures, as loaded
}

// partialPoll returns a poll over a partial snapshot when the rows changed since the
// last poll explain every moved day, else nil and the changed rows it read (nil when
// it read none), for the whole-snapshot path.
func (e *Engine) partialPoll(ctx context.Context, entity string, w mapping.Window, c summaryCheck, es *EntitySummary) (*entityPoll, []changedRow, error) {
	cs, ok := e.o.Reader.(mapping.ChangeScanner)
	if c.stored == nil || c.mis == nil || c.mis.err != nil || !ok || !cs.HasChanged(entity) {
		return nil, nil, nil
	}
	since, ok, err := e.changedSince(ctx, entity)
	if err != nil || !ok {
		return nil, nil, err
	}
	t0 := time.Now()
	rows, complete, err := e.scanChangedRows(ctx, cs, entity, w, since, max(1000, int(c.rows/partialShare)))
	if err != nil || !complete {
		return nil, nil, err
	}
	scanned := time.Since(t0)
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.key
	}
	snap, ok, err := e.o.Store.LoadPartial(ctx, entity, keys)
	if err != nil {
		return nil, rows, err
	}
	if !ok || snap.CompactionDue(int(c.rows), len(keys)) {
		return nil, rows, nil // the whole snapshot's commit rewrites the log
	}
	p := e.newEntityPoll(ctx, entity, w, snap, es)
	p.known = int(c.rows) // the guard's base is every record, not the ones loaded
	days := c.mis.days
	mine := make([]daySum, len(days.dates))
	for i, d := range days.dates {
		mine[i] = c.stored[d]
	}
	base := &partialBase{stored: c.stored, loaded: e.snapshotDaySums(snap)}
	queued := p.applyChanged(rows, &days, mine)
	for i := range mine {
		if mine[i] != c.mis.sums[i] || mine[i].unknown || c.mis.sums[i].unknown {
			e.log.Debug("changed rows leave days unexplained; loading the whole snapshot", "entity", entity, "changed_rows", len(rows))
			return nil, rows, nil
		}
	}
	p.es.Read = int(c.rows) - snap.Len()
	p.markUnmoved(&days, make([]bool, len(days.dates)), queued)
	p.partial = base
	es.PartialSnapshot = true
	e.log.Debug("changed rows explain every day; snapshot loaded in part", "entity", entity, "changed_rows", len(rows),
		"loaded", snap.Len(), "to_read", len(p.fetch), "scan_ms", scanned.Milliseconds(), "ms", time.Since(t0).Milliseconds())
	return p, rows, nil
}

// summarize is the summary a commit of this poll stores (store.Change.Summarize):
// the snapshot's own, or for a partial snapshot the stored one with the loaded
// records' old figures replaced by their figures now. Nil (the stored summary is
// dropped, the next poll loads the whole snapshot) if that goes below zero anywhere,
// which would mean the stored summary did not describe the snapshot.
func (p *entityPoll) summarize(snap *store.Snapshot) []byte {
	if p.partial == nil || !snap.Partial() {
		return p.e.summarizeSnapshot(snap)
	}
	days := maps.Clone(p.partial.stored)
	for d, s := range p.partial.loaded {
		t := days[d]
		t.rows -= s.rows
		t.sum -= s.sum
		days[d] = t
	}
	for d, s := range p.e.snapshotDaySums(snap) {
		t := days[d]
		t.rows += s.rows
		t.sum += s.sum
		t.unknown = t.unknown || s.unknown
		days[d] = t
	}
	for d, s := range days {
		switch {
		case s.rows < 0 || s.rows == 0 && s.sum != 0:
			p.e.log.Warn("stored day summary does not match the snapshot; the next poll reads it whole", "entity", p.entity, "day", d)
			return nil
		case s.rows == 0:
			delete(days, d)
		}
	}
	return encodeDays(p.e.o.Zone.String(), days)
}
