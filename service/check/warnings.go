package check

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"medsync/mapping"
	"medsync/service/config"
)

// maxClockSkew is how far the MIS server's local time may be from the configured
// zone's before check warns (clocks drift; zones differ by whole hours or halves).
const maxClockSkew = 10 * time.Minute

// warn records a finding that does not fail the check but that the operator must
// read: printed with "!" and a hint.
func (c *checker) warn(name, detail, hint string) {
	c.add(Result{OK: true, Warning: true, Name: name, Detail: detail, Hint: hint})
}

// clock compares the MIS server's local time with the configured zone: a MIS in
// Yekaterinburg read with the shipped Europe/Moscow shifts every time by two hours.
func (c *checker) clock(ctx context.Context, db *sql.DB, dialect string, cfg *config.Config) {
	qctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	now := c.o.Now()
	wall, asked, err := mapping.ServerClock(qctx, db, dialect)
	if !asked {
		return
	}
	name := "MIS time zone"
	if err != nil {
		c.warn(name, err.Error(), fmt.Sprintf("check by hand that the MIS server's local time is the time in %s ([service] timezone)", cfg.Location))
		return
	}
	off := mapping.ClockOffset(wall, now, cfg.Location)
	if off.Abs() <= maxClockSkew {
		c.pass(name, fmt.Sprintf("the MIS server's clock (%s) agrees with %s", wall.Format("15:04"), cfg.Location))
		return
	}
	ahead := "ahead of"
	if off < 0 {
		ahead = "behind"
	}
	c.warn(name, fmt.Sprintf("the MIS server's local time is %s, %s %s the time in %s ([service] timezone), which is %s",
		wall.Format("2006-01-02 15:04"), fmtOffset(off.Abs()), ahead, cfg.Location, now.In(cfg.Location).Format("2006-01-02 15:04")),
		fmt.Sprintf("set [service] timezone in %s to the zone the MIS keeps its times in (the MIS server's zone, e.g. Asia/Yekaterinburg); "+
			"otherwise every visit and slot is shifted by %s. If the server's clock is simply wrong, correct the clock", cfg.File, fmtOffset(off.Abs())))
}

func fmtOffset(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case m == 0:
		return fmt.Sprintf("%d h", h)
	case h == 0:
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// unmapped reports the codes the profile's code tables do not list, seen on the rows
// check read.
func (c *checker) unmapped(src *mapping.Source) {
	for _, u := range src.UnmappedCodes() {
		name := fmt.Sprintf("codes %s.%s", u.Entity, u.Column)
		what := "those rows are skipped (or the value is left out)"
		if u.Default != "" {
			what = fmt.Sprintf("sent as %q (map.%s.*)", u.Default, u.Column)
		}
		c.warn(name, fmt.Sprintf("code %q is not in map.%s: %d rows (e.g. %s); %s", u.Code, u.Column, u.Rows, strings.Join(u.Keys, ", "), what),
			fmt.Sprintf("add %s:<value> to map.%s in the profile's profile.ini, or map.%s.* = <value> for every code it does not list", u.Code, u.Column, u.Column))
	}
}

// horizon warns when the poll window reaches past the last shift the MIS returns: a
// schedule stored as rules and expanded by a view over a fixed horizon ends there, and
// the days after it silently have no slots.
func (c *checker) horizon(ctx context.Context, src *mapping.Source, win mapping.Window, cfg *config.Config) {
	if !src.Has(mapping.EntityShift) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	var last time.Time
	err := src.ReadAll(rctx, mapping.EntityShift, win, func(it mapping.Item) error {
		if s, ok := it.Record.(*mapping.Shift); ok && s.Start.After(last) {
			last = s.Start
		}
		return nil
	}, func(mapping.Skip) {})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return // reported by "entity shift"
	}
	name := "schedule horizon"
	end := win.To.Add(-time.Nanosecond).In(cfg.Location)
	if last.IsZero() {
		c.warn(name, fmt.Sprintf("the MIS returns no shift from %s to %s", win.From.Format("2006-01-02"), end.Format("2006-01-02")),
			"no slots can be offered: check shift.rows (or the MEDSYNC_SHIFT view) and that the MIS has a schedule for these days")
		return
	}
	last = last.In(cfg.Location)
	lastDay := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, cfg.Location)
	if days := int(end.Sub(lastDay).Hours() / 24); days >= 2 {
		c.warn(name, fmt.Sprintf("the last shift the MIS returns is on %s, but days_ahead = %d reaches %s: %d days without a shift",
			lastDay.Format("2006-01-02"), cfg.MIS.DaysAhead, end.Format("2006-01-02"), days),
			"if the schedule is not published that far yet, this is expected; if the MIS has shifts there (rules expanded by a view over a fixed horizon), "+
				"widen the view's horizon or filter it by the window (:from_date/:to_date, see mapping/profiles/views/README.md), or lower [mis] days_ahead")
		return
	}
	c.pass(name, "shifts up to "+lastDay.Format("2006-01-02"))
}
