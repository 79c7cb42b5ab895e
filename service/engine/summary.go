package engine

import (
	"context"
	"fmt"
	"sort"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
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

// readSummarized is the read step of the summary path.
func (p *entityPoll) readSummarized(ctx context.Context, sr mapping.Summarizer) error {
	p.es.Mode = "summary"
	days := daysOf(p.w, p.e.o.Zone)
	mis := make([]daySum, len(days.dates))
	err := sr.Summaries(ctx, p.entity, p.w, func(b mapping.Bucket) error {
		i, ok := days.index[b.Day]
		if !ok {
			return nil // outside the window (a day boundary the MIS sees otherwise): its rows are not ours
		}
		mis[i].rows += b.Rows
		mis[i].sum += b.Checksum
		mis[i].unknown = mis[i].unknown || !b.Valid
		return nil
	})
	if err != nil {
		p.e.log.Warn("day summaries failed; reading by versions", "entity", p.entity, "error", err)
		p.es.Mode = "versions"
		return p.readChanged(ctx)
	}
	moved := p.movedDays(&days, mis)
	ranges := dayRanges(moved)
	for _, r := range ranges {
		w := mapping.Window{From: time.Unix(days.start[r[0]], 0).In(p.e.o.Zone), To: time.Unix(days.start[r[1]+1], 0).In(p.e.o.Zone)}
		if err := p.scanDays(ctx, sr, w); err != nil {
			return err
		}
	}
	return p.fetchChanged(ctx)
}

// movedDays compares the MIS's day summaries with the snapshot's and marks every
// record of an unchanged day seen. It returns which days moved.
func (p *entityPoll) movedDays(days *windowDays, mis []daySum) []bool {
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
	moved := make([]bool, len(days.dates))
	n := 0
	for d := range moved {
		moved[d] = mis[d] != mine[d] || mis[d].unknown
		if moved[d] {
			n++
		}
	}
	for i := range ents {
		if d := days.of(ents[i].At); d >= 0 && !moved[d] {
			ents[i].Seen = true
			p.es.Read++
		}
	}
	p.e.log.Debug("day summaries compared", "entity", p.entity, "days", len(moved), "moved", n)
	return moved
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
	if err := p.e.o.Reader.ReadKeys(ctx, p.entity, p.fetch, p.compare, p.skipped); err != nil {
		return fmt.Errorf("read (changed rows) failed, no deletions inferred: %v", err)
	}
	// A key listed by a scan but gone before its row was read was deleted in between;
	// it is not marked seen and the next poll decides.
	return nil
}
