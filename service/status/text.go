package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the facts for a terminal (`medsync status`), in English.
func WriteText(w io.Writer, f *Facts) error {
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("2006-01-02 15:04:05 -07:00")
	}
	src := "running daemon"
	if !f.Daemon {
		src = "state store (the daemon's status server did not answer)"
	}
	fmt.Fprintf(w, "service %s, config %s\nfacts from: %s\nschedule: %s\n", f.Service, f.Config, src, f.Schedule)
	if f.Healthy {
		fmt.Fprintf(w, "health: OK (last successful poll %s)\n", when(f.LastOK))
	} else {
		fmt.Fprintf(w, "health: UNHEALTHY: %s\n", f.Reason)
	}
	if r := f.Running; r != nil {
		what := "poll running"
		if r.First {
			what = "FIRST POLL running (it reads everything; minutes on a large MIS)"
		}
		fmt.Fprintf(w, "%s since %s\n", what, when(r.Started))
		for _, e := range r.Entities {
			line := fmt.Sprintf("  %-12s %-8s %d rows", e.Entity, e.State, e.Rows)
			if e.Expected > 0 {
				line += fmt.Sprintf(" of ~%d", e.Expected)
			}
			if e.Rate > 0 {
				line += fmt.Sprintf(", %.0f rows/s", e.Rate)
			}
			if e.ETA > 0 {
				line += ", about " + e.ETA.String() + " left"
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, u := range f.Unmapped {
		what := "rows skipped"
		if u.Default != "" {
			what = "sent as " + u.Default
		}
		fmt.Fprintf(w, "UNMAPPED CODE: %s.%s %q on %d records (%s); add it to map.%s in profile.ini\n", u.Entity, u.Column, u.Code, u.Rows, what, u.Column)
	}
	if p := f.LastPoll; p != nil {
		res := "ok"
		if !p.OK {
			res = "FAILED: " + p.Error
		}
		fmt.Fprintf(w, "last poll: %s, %.2fs, %s\n", when(p.Started), p.Duration.Seconds(), res)
	} else {
		fmt.Fprintln(w, "last poll: none yet")
	}
	if !f.NextPoll.IsZero() {
		fmt.Fprintf(w, "next poll: %s\n", when(f.NextPoll))
	}
	fmt.Fprintf(w, "last success: %s\n", when(f.LastOK))
	if len(f.Entities) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ENTITY\tMODE\tREAD\tSKIPPED\tUPSERTS\tDELETES\tHELD\tTIME\tERROR")
		for _, e := range f.Entities {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.2fs\t%s\n", e.Entity, e.Mode, e.Read, e.Skipped, e.Upserts, e.Deletes, e.Held, e.Duration.Seconds(), e.Error)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if len(f.Connectors) == 0 {
		fmt.Fprintln(w, "no connector is enabled")
	} else {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONNECTOR\tTYPE\tQUEUED\tDELIVERED\tRETRYING\tDEAD LETTERS\tLAST ERROR")
		for _, c := range f.Connectors {
			last := c.LastError
			if !c.PausedUntil.IsZero() {
				last = "paused until " + when(c.PausedUntil) + " (peer asked to retry later); " + last
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Type, c.Queued, c.Delivered, c.Retrying, c.DeadLetters, last)
		}
		tw.Flush()
	}
	if f.HeldTotal > 0 {
		fmt.Fprintf(w, "\nHELD DELETIONS: %d (too many records vanished from the MIS in one poll)\n", f.HeldTotal)
		for _, h := range f.Held {
			fmt.Fprintf(w, "  %s: %d held (%d of them changes: slots turning free), %d confirmed\n", h.Entity, h.Count, h.Flips, h.Confirmed)
		}
		fmt.Fprintln(w, "  check the MIS; list them with `medsync deletions list`, send them with `medsync deletions confirm`")
	}
	for _, d := range f.Drift {
		fmt.Fprintf(w, "\nVERSION COLUMN MISSES CHANGES: %s: the full read of %s found %d records changed while their version did not (e.g. %s)\n  %s\n",
			d.Entity, when(d.At), d.Count, strings.Join(d.Keys, ", "), d.Advice)
	}
	if n := len(f.History); n > 0 {
		var maxS float64
		fails := 0
		for _, p := range f.History {
			maxS = max(maxS, p.Seconds)
			if !p.OK {
				fails++
			}
		}
		fmt.Fprintf(w, "\nlast 24 hours: %d polls, %d failed, longest %.2fs\n", n, fails, maxS)
	}
	return nil
}
