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
// their keys' snapshot records are loaded (store.LoadPartial). Those rows then explain
// the days they account for — a day whose row count and checksum, with the changed
// rows taken out of their old days and put into their new ones, are the MIS's has
// every other record unchanged and present. The days left unexplained (a deletion, a
// row whose version was not touched) have their records loaded too, in a second pass
// over the log, and are scanned by keys as on the whole-snapshot path. The poll goes
// on over the partial snapshot: the rows to read are read in full and compared, and
// what vanished among the loaded records is looked up and guarded as always, the
// guard weighing it against every record. When the unexplained days hold more than
// a share of the records, the poll loads the whole snapshot, with the rows already
// read.
//
// The summary stored with the commit is the stored one with the loaded records' old
// figures taken out and their new ones put in (partialBase), so it describes the
// whole snapshot exactly as a whole load would have computed it.

// partialShare bounds a partial poll: when more than 1/partialShare of the records
// changed, loading the whole snapshot costs about as much. Below partialFloor records
// the bound does not apply (a small snapshot loads in no time either way); a variable
// for the tests.
const partialShare = 20

var partialFloor = 1000

// partialBase is what a partial poll needs to store the whole snapshot's summary.
type partialBase struct {
	stored map[convert.Date]daySum // the stored summary the poll relied on
	loaded map[convert.Date]daySum // the loaded records' figures, as loaded
	moved  []bool                  // per window day: left unexplained, scanned by keys
}

// partialPoll returns a poll over a partial snapshot when the rows changed since the
// last poll explain every moved day but a few (whose records are loaded as well, and
// scanned by keys), else nil and the changed rows it read (nil when it read none), for
// the whole-snapshot path.
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
	budget := max(partialFloor, int(c.rows/partialShare))
	rows, complete, err := e.scanChangedRows(ctx, cs, entity, w, since, budget)
	if err != nil || !complete {
		return nil, nil, err
	}
	scanned := time.Since(t0)
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.key
	}
	days := c.mis.days
	var spans [][2]int64
	var moved []bool
	var p *entityPoll
	var queued []int
	for pass := 0; pass < 2; pass++ {
		snap, ok, err := e.o.Store.LoadPartial(ctx, entity, store.PartialFilter{Keys: keys, Spans: spans})
		if err != nil {
			return nil, rows, err
		}
		if !ok || snap.CompactionDue(int(c.rows), len(keys)) {
			return nil, rows, nil // the whole snapshot's commit rewrites the log
		}
		p = e.newEntityPoll(ctx, entity, w, snap, es)
		p.known = int(c.rows) // the guard's base is every record, not the ones loaded
		mine := make([]daySum, len(days.dates))
		for i, d := range days.dates {
			mine[i] = c.stored[d]
		}
		queued = p.applyChanged(rows, &days, mine)
		moved = make([]bool, len(days.dates))
		var left int64 // records on the days left unexplained
		for i := range mine {
			if mine[i] != c.mis.sums[i] || mine[i].unknown || c.mis.sums[i].unknown {
				moved[i] = true
				left += c.stored[days.dates[i]].rows
			}
		}
		if left == 0 || pass == 1 {
			break
		}
		if int(left)+len(rows) > budget {
			e.log.Debug("changed rows leave many days unexplained; loading the whole snapshot", "entity", entity, "changed_rows", len(rows), "records_left", left)
			return nil, rows, nil
		}
		// The unexplained days' records are loaded with the changed rows' (a second
		// pass over the log), and those days are scanned by keys.
		for _, r := range dayRanges(moved) {
			spans = append(spans, [2]int64{days.start[r[0]], days.start[r[1]+1]})
		}
	}
	p.es.Read = int(c.rows) - p.snap.Len()
	p.markUnmoved(&days, moved, queued)
	p.partial = &partialBase{stored: c.stored, loaded: e.snapshotDaySums(p.snap), moved: moved}
	es.PartialSnapshot = true
	e.log.Debug("snapshot loaded in part", "entity", entity, "changed_rows", len(rows), "day_ranges_scanned", len(spans),
		"loaded", p.snap.Len(), "scan_ms", scanned.Milliseconds(), "ms", time.Since(t0).Milliseconds())
	return p, rows, nil
}

// readPartial is the read step of a partial poll: the days the changed rows left
// unexplained are scanned by keys, then the rows to read are read in full.
func (p *entityPoll) readPartial(ctx context.Context) error {
	p.es.Mode = "summary"
	sr, _ := p.e.summaryEntity(p.entity)
	days := p.mis.days
	for _, r := range dayRanges(p.partial.moved) {
		w := mapping.Window{From: time.Unix(days.start[r[0]], 0).In(p.e.o.Zone), To: time.Unix(days.start[r[1]+1], 0).In(p.e.o.Zone)}
		if err := p.scanDays(ctx, sr, w); err != nil {
			return err
		}
	}
	return p.fetchChanged(ctx)
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
	// A day scanned by keys had all its records loaded: its figures are theirs, and
	// so is whether one lacks a checksum.
	for i, d := range p.mis.days.dates {
		if p.partial.moved[i] {
			days[d] = daySum{}
		}
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
