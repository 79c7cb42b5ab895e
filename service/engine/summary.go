package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/service/store"
)

// The summary path of a poll (DESIGN.md, "Reading the MIS cheaply"): for an entity
// whose profile declares <entity>.summary, the MIS returns a row count and a checksum
// per day of the window, the poll computes the same per day from its snapshot (the
// day of an entry is its window instant's date in the service zone; its checksum was
// read with it), and scans (key, version, checksum) only for the days that differ.
// Unchanged days' records are all present and unchanged. A day whose checksum cannot
// be computed on either side — a NULL from the MIS, an entry read without one — is
// scanned; so are all days when the summary statement fails. The periodic full read
// stays the backstop.
//
// Every commit of such an entity stores the snapshot's own day summaries with it
// (store.Change.Summarize), so that a poll first compares the MIS's days with those:
// when none moved, nothing is held, no target awaits a backfill and no record lies
// outside the window, the poll is over without loading the snapshot
// (unchangedBySummary). Otherwise the same day summaries feed the read step.

// maxDayScans bounds the version scans of one poll: moved days that are not adjacent
// are joined across the smallest gaps until that many ranges remain.
const maxDayScans = 16

// daySum is one day's summary.
type daySum struct {
	rows    int64
	sum     int64
	unknown bool // a checksum is missing: the day must be scanned
}

// windowDays are the days of a poll window: start[i] is day i's midnight (unix
// seconds) and start[len(dates)] the window's end.
type windowDays struct {
	start []int64
	dates []convert.Date
	index map[convert.Date]int
}

func daysOf(w mapping.Window, zone *time.Location) windowDays {
	var d windowDays
	d.index = map[convert.Date]int{}
	for t := w.From.In(zone); t.Before(w.To); {
		y, m, dd := t.Date()
		d.index[convert.Date{Year: y, Month: m, Day: dd}] = len(d.dates)
		d.dates = append(d.dates, convert.Date{Year: y, Month: m, Day: dd})
		d.start = append(d.start, t.Unix())
		t = time.Date(y, m, dd+1, 0, 0, 0, 0, zone)
	}
	d.start = append(d.start, w.To.Unix())
	return d
}

// of is the day of a window instant, or -1 outside the window.
func (d *windowDays) of(at int64) int {
	n := len(d.dates)
	if n == 0 || at < d.start[0] || at >= d.start[n] {
		return -1
	}
	return sort.Search(n, func(i int) bool { return d.start[i+1] > at })
}

// misDays are the MIS's day summaries of one poll window.
type misDays struct {
	w    mapping.Window
	days windowDays
	sums []daySum
	err  error // the summary statement failed
}

// readMISDays runs the entity's summary statement over w.
func (e *Engine) readMISDays(ctx context.Context, sr mapping.Summarizer, entity string, w mapping.Window) *misDays {
	m := &misDays{w: w, days: daysOf(w, e.o.Zone)}
	m.sums = make([]daySum, len(m.days.dates))
	m.err = sr.Summaries(ctx, entity, w, func(b mapping.Bucket) error {
		i, ok := m.days.index[b.Day]
		if !ok {
			return nil // outside the window (a day boundary the MIS sees otherwise): its rows are not ours
		}
		m.sums[i].rows += b.Rows
		m.sums[i].sum += b.Checksum
		m.sums[i].unknown = m.sums[i].unknown || !b.Valid
		return nil
	})
	return m
}

// readSummarized is the read step of the summary path.
func (p *entityPoll) readSummarized(ctx context.Context, sr mapping.Summarizer) error {
	p.es.Mode = "summary"
	m := p.mis
	if m == nil || m.w != p.w {
		m = p.e.readMISDays(ctx, sr, p.entity, p.w)
	}
	if m.err != nil {
		p.e.log.Warn("day summaries failed; reading by versions", "entity", p.entity, "error", m.err)
		p.es.Mode = "versions"
		return p.readChanged(ctx)
	}
	days := m.days
	mine := p.snapshotDays(&days)
	changed, err := p.explainChanges(ctx, &days, m.sums, mine)
	if err != nil {
		return err
	}
	moved := make([]bool, len(days.dates))
	n := 0
	for d := range moved {
		moved[d] = m.sums[d] != mine[d] || m.sums[d].unknown || mine[d].unknown
		if moved[d] {
			n++
		}
	}
	p.markUnmoved(&days, moved, changed)
	p.e.log.Debug("day summaries compared", "entity", p.entity, "days", len(moved), "moved", n, "changed_rows", len(p.fetch))
	ranges := dayRanges(moved)
	for _, r := range ranges {
		w := mapping.Window{From: time.Unix(days.start[r[0]], 0).In(p.e.o.Zone), To: time.Unix(days.start[r[1]+1], 0).In(p.e.o.Zone)}
		if err := p.scanDays(ctx, sr, w); err != nil {
			return err
		}
	}
	return p.fetchChanged(ctx)
}

// snapshotDays are the day summaries of the snapshot's records inside the window.
func (p *entityPoll) snapshotDays(days *windowDays) []daySum {
	mine := make([]daySum, len(days.dates))
	ents := p.snap.Entries
	for i := range ents {
		d := days.of(ents[i].At)
		if d < 0 {
			continue
		}
		mine[d].rows++
		mine[d].sum += int64(ents[i].Sum)
		mine[d].unknown = mine[d].unknown || !ents[i].HasSum
	}
	return mine
}

// changedOverlap is how far before the start of the last poll that committed an
// entity <entity>.changed looks for changes: MIS transactions that commit late, and
// a MIS clock a little behind ours. A change it misses still moves its day, which is
// then scanned by keys.
const changedOverlap = 30 * time.Minute

// sinceKey is the meta key of the moment the next poll's <entity>.changed starts at.
func sinceKey(entity string) string { return "changed_since:" + entity }

// changedRow is a row of <entity>.changed.
type changedRow struct {
	key     string
	version uint64
	day     convert.Date
	sum     uint32
	hasSum  bool
}

// changedSince is the moment the entity's <entity>.changed starts at; false when no
// poll has committed on the summary path yet.
func (e *Engine) changedSince(ctx context.Context, entity string) (time.Time, bool, error) {
	v, err := e.o.Store.GetMeta(ctx, sinceKey(entity))
	if err != nil {
		return time.Time{}, false, err
	}
	since, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false, nil
	}
	return since, true, nil
}

// errEnough stops a scan that has read as many rows as its caller wants.
var errEnough = errors.New("enough rows")

// scanChangedRows reads the rows of <entity>.changed since a moment. With limit > 0
// it stops after limit rows and reports complete false.
func (e *Engine) scanChangedRows(ctx context.Context, cs mapping.ChangeScanner, entity string, w mapping.Window, since time.Time, limit int) (rows []changedRow, complete bool, err error) {
	err = cs.ScanChanged(ctx, entity, w, since, func(r mapping.ChangedRow) error {
		if limit > 0 && len(rows) >= limit {
			return errEnough
		}
		rows = append(rows, changedRow{key: string(r.Key), version: r.Version, day: r.Day, sum: r.Checksum, hasSum: r.HasChecksum})
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read (rows changed since %s) failed, no deletions inferred: %v", since.Format(time.RFC3339), err)
	}
	return rows, true, nil
}

// explainChanges runs <entity>.changed when some day moved and the profile declares
// it (or takes the rows a partial poll's attempt read, p.pre), and explains the moved
// days with them (applyChanged).
func (p *entityPoll) explainChanges(ctx context.Context, days *windowDays, mis, mine []daySum) ([]int, error) {
	cs, ok := p.e.o.Reader.(mapping.ChangeScanner)
	if !ok || !cs.HasChanged(p.entity) || slices.Equal(mis, mine) {
		return nil, nil
	}
	rows := p.pre
	if !p.preRead {
		since, ok, err := p.e.changedSince(ctx, p.entity)
		if err != nil || !ok {
			return nil, err // never committed on this path yet: the moved days are scanned
		}
		if rows, _, err = p.e.scanChangedRows(ctx, cs, p.entity, p.w, since, 0); err != nil {
			return nil, err
		}
	}
	return p.applyChanged(rows, days, mine), nil
}

// applyChanged queues each changed row whose version the snapshot does not have to
// be read in full, and updates the snapshot's day summaries (mine) as if it were
// already read — taken out of the day it was on, put into the day it is on. A day
// whose summary then matches the MIS's is explained: its other records are
// unchanged. It returns the snapshot positions of the known records queued.
func (p *entityPoll) applyChanged(rows []changedRow, days *windowDays, mine []daySum) []int {
	if p.sums == nil {
		p.sums = map[string]uint32{}
	}
	var known []int
	for _, r := range rows {
		nd, inWindow := days.index[r.day]
		if !inWindow {
			continue // moved out of the window: its old day moved and is scanned
		}
		if _, dup := p.versions[r.key]; dup {
			continue
		}
		pos := p.snap.Pos(r.key)
		if pos >= 0 {
			en := &p.snap.Entries[pos]
			if en.Ver == r.version && r.version != 0 {
				continue // unchanged since the snapshot
			}
			if d := days.of(en.At); d >= 0 {
				mine[d].rows--
				mine[d].sum -= int64(en.Sum)
			}
			known = append(known, pos)
		}
		mine[nd].rows++
		mine[nd].sum += int64(r.sum)
		mine[nd].unknown = mine[nd].unknown || !r.hasSum
		p.versions[r.key] = r.version
		if r.hasSum {
			p.sums[r.key] = r.sum
		}
		p.fetch = append(p.fetch, r.key)
	}
	return known
}

// markUnmoved marks every record of a day that did not move seen, but for the known
// records explainChanges queued: those are seen when their rows are read.
func (p *entityPoll) markUnmoved(days *windowDays, moved []bool, queued []int) {
	ents := p.snap.Entries
	for i := range ents {
		if d := days.of(ents[i].At); d >= 0 && !moved[d] {
			ents[i].Seen = true
			p.es.Read++
		}
	}
	for _, i := range queued {
		if ents[i].Seen {
			ents[i].Seen = false
			p.es.Read--
		}
	}
}

// dayRanges turns moved days into at most maxDayScans [first, last] ranges, joining
// the closest ones.
func dayRanges(moved []bool) [][2]int {
	var rs [][2]int
	for d, m := range moved {
		if !m {
			continue
		}
		if len(rs) > 0 && rs[len(rs)-1][1] == d-1 {
			rs[len(rs)-1][1] = d
		} else {
			rs = append(rs, [2]int{d, d})
		}
	}
	for len(rs) > maxDayScans {
		best := 0
		for i := 1; i < len(rs)-1; i++ {
			if rs[i+1][0]-rs[i][1] < rs[best+1][0]-rs[best][1] {
				best = i
			}
		}
		rs[best][1] = rs[best+1][1]
		rs = append(rs[:best+1], rs[best+2:]...)
	}
	return rs
}

// scanDays scans (key, version, checksum) of the days in w: a record whose version is
// the snapshot's is seen (its checksum is learned when the snapshot lacks it); any
// other is fetched in full.
func (p *entityPoll) scanDays(ctx context.Context, sr mapping.Summarizer, w mapping.Window) error {
	if p.sums == nil {
		p.sums = map[string]uint32{}
	}
	err := sr.ScanChecksums(ctx, p.entity, w, func(key []byte, version uint64, sum uint32, ok bool) error {
		if en := p.snap.GetBytes(key); en != nil {
			if en.Seen {
				return nil // an unchanged day's record, or a duplicate: the full read reports those
			}
			if en.Ver == version && version != 0 {
				en.Seen = true
				p.es.Read++
				if ok && (!en.HasSum || en.Sum != sum) {
					p.verOnly = append(p.verOnly, pending{key: string(key), fp: en.FP, ver: en.Ver, at: en.At, sum: sum, hasSum: true})
				}
				return nil
			}
		}
		if _, queued := p.versions[string(key)]; queued {
			return nil // a changed row explainChanges queued
		}
		k := string(key)
		p.versions[k] = version
		if ok {
			p.sums[k] = sum
		}
		p.fetch = append(p.fetch, k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read (versions of the days that moved) failed, no deletions inferred: %v", err)
	}
	return nil
}

// fetchChanged reads in full the keys the scans listed.
func (p *entityPoll) fetchChanged(ctx context.Context) error {
	if len(p.fetch) == 0 {
		return nil
	}
	t0 := time.Now()
	if err := p.e.o.Reader.ReadKeys(ctx, p.entity, p.fetch, p.compare, p.skipped); err != nil {
		return fmt.Errorf("read (changed rows) failed, no deletions inferred: %v", err)
	}
	p.e.log.Debug("changed rows read", "entity", p.entity, "rows", len(p.fetch), "ms", time.Since(t0).Milliseconds())
	// A key listed by a scan but gone before its row was read was deleted in between;
	// it is not marked seen and the next poll decides.
	return nil
}

// summaryEntity reports whether entity polls on the summary path when its snapshot
// is not empty.
func (e *Engine) summaryEntity(entity string) (mapping.Summarizer, bool) {
	r := e.o.Reader
	sr, ok := r.(mapping.Summarizer)
	if !ok || !r.Windowed(entity) || !r.HasVersions(entity) || !sr.HasSummary(entity) || entity == mapping.EntitySlot {
		return nil, false
	}
	return sr, true
}

// summaryCheck is what a poll learned from day summaries before loading a snapshot.
type summaryCheck struct {
	mis *misDays // the MIS's day summaries; nil when the entity has none or the read is full
	// stored is the summary stored with the snapshot when the poll may rely on it:
	// it was written for this zone, no record lies outside the window, nothing is held
	// and no target awaits a backfill. Nil otherwise.
	stored map[convert.Date]daySum
	rows   int64 // the records stored counts
}

// unchangedBySummary decides an entity's poll from day summaries alone when it can:
// done is true when every day of the window has the row count and checksum the
// stored summary of the snapshot has, no record of the snapshot lies outside the
// window, nothing is held and no target awaits a backfill — the poll read nothing
// else and has nothing to write. Otherwise it returns what it learned for the read
// step (the MIS's day summaries when it asked for them; the stored ones when a
// partial poll may rely on them).
func (e *Engine) unchangedBySummary(ctx context.Context, entity string, w mapping.Window, forceFull bool, es *EntitySummary) (c summaryCheck, done bool, err error) {
	if forceFull {
		return c, false, nil
	}
	sr, ok := e.summaryEntity(entity)
	if !ok {
		if ts, ok := e.tableSummaryEntity(entity); ok {
			return c, e.unchangedTable(ctx, ts, entity, w, es), nil
		}
		return c, false, nil
	}
	// The MIS first: the state store may be busy loading the snapshot meanwhile.
	m := e.readMISDays(ctx, sr, entity, w)
	c.mis = m
	if m.err != nil {
		return c, false, nil
	}
	mine, err := e.reliableSummary(ctx, entity)
	if err != nil || mine == nil {
		return c, false, err
	}
	var rows int64
	for d, s := range mine {
		if _, in := m.days.index[d]; !in && s.rows > 0 {
			return c, false, nil // records outside the window: the read step drops them
		}
		rows += s.rows
	}
	c.stored, c.rows = mine, rows
	for i, d := range m.days.dates {
		if my := mine[d]; m.sums[i] != my || my.unknown {
			return c, false, nil
		}
	}
	es.Mode, es.Read, es.SummaryOnly = "summary", int(rows), true
	e.log.Debug("day summaries unchanged; snapshot not loaded", "entity", entity, "days", len(m.days.dates), "records", rows)
	return c, true, nil
}

// reliableSummary is the summary stored with the entity's snapshot when a poll may
// rely on it alone: there is one, written for this zone, nothing is held and every
// target has been given the entity's state. Nil otherwise.
func (e *Engine) reliableSummary(ctx context.Context, entity string) (map[convert.Date]daySum, error) {
	blob, err := e.o.Store.LoadSummary(ctx, entity)
	if err != nil || blob == nil {
		return nil, err
	}
	mine, ok := decodeDays(blob, e.o.Zone.String())
	if !ok {
		return nil, nil
	}
	for _, t := range e.o.Targets {
		if t.takes(entity) {
			if v, err := e.o.Store.GetMeta(ctx, store.BaseKey(t.Name, entity)); err != nil || v == "" {
				return nil, err
			}
		}
	}
	if held, err := e.o.Store.HeldOf(ctx, entity); err != nil || len(held) > 0 {
		return nil, err
	}
	return mine, nil
}

// tableSummaryEntity reports whether entity, which has no window, has a summary of its
// whole table (<entity>.summary: one row count and checksum): a poll that finds it
// equal to the stored one is over; any other reads by versions as before.
func (e *Engine) tableSummaryEntity(entity string) (mapping.Summarizer, bool) {
	r := e.o.Reader
	sr, ok := r.(mapping.Summarizer)
	if !ok || r.Windowed(entity) || !r.HasVersions(entity) || !sr.HasSummary(entity) {
		return nil, false
	}
	return sr, true
}

// unchangedTable decides the poll of an entity with a table summary: true when the
// MIS's row count and checksum are those of the stored summary (the snapshot's own,
// every record in one bucket) and none of its records lacks a checksum.
func (e *Engine) unchangedTable(ctx context.Context, sr mapping.Summarizer, entity string, w mapping.Window, es *EntitySummary) bool {
	var mis daySum
	err := sr.Summaries(ctx, entity, w, func(b mapping.Bucket) error {
		mis.rows += b.Rows
		mis.sum += b.Checksum
		mis.unknown = mis.unknown || !b.Valid
		return nil
	})
	if err != nil {
		e.log.Warn("table summary failed; reading by versions", "entity", entity, "error", err)
		return false
	}
	mine, err := e.reliableSummary(ctx, entity)
	if err != nil || mine == nil {
		return false
	}
	var my daySum
	for _, d := range mine {
		my.rows += d.rows
		my.sum += d.sum
		my.unknown = my.unknown || d.unknown
	}
	if my != mis || my.unknown {
		return false
	}
	es.Mode, es.Read, es.SummaryOnly = "summary", int(my.rows), true
	e.log.Debug("table summary unchanged; snapshot not loaded", "entity", entity, "records", my.rows)
	return true
}

// summarizeSnapshot is the stored summary of a snapshot (store.Change.Summarize):
// its records' row counts and checksums per day of their window instants, in the
// service's zone.
func (e *Engine) summarizeSnapshot(snap *store.Snapshot) []byte {
	return encodeDays(e.o.Zone.String(), e.snapshotDaySums(snap))
}

// snapshotDaySums are a snapshot's records' row counts and checksums per day of their
// window instants, in the service's zone (days without records left out).
func (e *Engine) snapshotDaySums(snap *store.Snapshot) map[convert.Date]daySum {
	zone := e.o.Zone
	lo, hi, any := int64(0), int64(0), false
	snap.Each(func(_ []byte, en *store.Entry) {
		if !any || en.At < lo {
			lo = en.At
		}
		if !any || en.At > hi {
			hi = en.At
		}
		any = true
	})
	days := map[convert.Date]daySum{}
	if any {
		y, mo, d := time.Unix(lo, 0).In(zone).Date()
		span := daysOf(mapping.Window{From: time.Date(y, mo, d, 0, 0, 0, 0, zone), To: time.Unix(hi+1, 0)}, zone)
		sums := make([]daySum, len(span.dates))
		snap.Each(func(_ []byte, en *store.Entry) {
			s := &sums[span.ofNear(en.At)]
			s.rows++
			s.sum += int64(en.Sum)
			s.unknown = s.unknown || !en.HasSum
		})
		for i, s := range sums {
			if s.rows > 0 {
				days[span.dates[i]] = s
			}
		}
	}
	return days
}

// ofNear is of for an instant known to lie inside the days: a guess from the length
// of a day, corrected by a step or two (days of 23 or 25 hours).
func (d *windowDays) ofNear(at int64) int {
	n := len(d.dates)
	k := int((at - d.start[0]) / 86400)
	k = max(0, min(k, n-1))
	for k > 0 && d.start[k] > at {
		k--
	}
	for k < n-1 && d.start[k+1] <= at {
		k++
	}
	return k
}

// summaryFormat heads a stored summary; the zone follows it.
const summaryFormat = "days1 "

// encodeDays is a stored summary: the format and zone, a newline, the number of
// days, then per day in date order: yyyymmdd, rows, checksum sum, unknown (0 or 1).
func encodeDays(zone string, days map[convert.Date]daySum) []byte {
	b := append([]byte(summaryFormat+zone), '\n')
	keys := make([]int64, 0, len(days))
	for d := range days {
		keys = append(keys, dateNumber(d))
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		s := days[numberDate(k)]
		b = binary.AppendVarint(b, k)
		b = binary.AppendVarint(b, s.rows)
		b = binary.AppendVarint(b, s.sum)
		if s.unknown {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// decodeDays reads a stored summary written for zone; false when it is of another
// zone or format, or damaged (the poll then reads as if there were none).
func decodeDays(b []byte, zone string) (map[convert.Date]daySum, bool) {
	head := summaryFormat + zone + "\n"
	if len(b) < len(head) || string(b[:len(head)]) != head {
		return nil, false
	}
	b = b[len(head):]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, false
	}
	b = b[k:]
	days := make(map[convert.Date]daySum, n)
	for i := uint64(0); i < n; i++ {
		var v [3]int64
		for j := range v {
			x, k := binary.Varint(b)
			if k <= 0 {
				return nil, false
			}
			v[j], b = x, b[k:]
		}
		if len(b) == 0 {
			return nil, false
		}
		days[numberDate(v[0])] = daySum{rows: v[1], sum: v[2], unknown: b[0] != 0}
		b = b[1:]
	}
	return days, len(b) == 0
}

func dateNumber(d convert.Date) int64 {
	return int64(d.Year)*10000 + int64(d.Month)*100 + int64(d.Day)
}

func numberDate(n int64) convert.Date {
	return convert.Date{Year: int(n / 10000), Month: time.Month(n / 100 % 100), Day: int(n % 100)}
}
