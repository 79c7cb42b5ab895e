package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"medsync/service/app"
	"medsync/service/logging"
)

func init() {
	verbs["test"] = func(ctx context.Context, c *cli, args []string) error { return c.dryRun(ctx, args) }
}

// dryRun is `medsync test [entity ...] [-n N] [-json]`: the canonical records the
// profile produces for the first N rows of each entity, and the connectors that would
// receive them. Nothing is written: not the state store, not a connector, not the MIS.
func (c *cli) dryRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	n := fs.Int("n", 5, "records per entity (0: all)")
	asJSON := fs.Bool("json", false, "one JSON object per record, nothing else (for scripts)")
	var entities []string
	// Flags may come before or after the entity names.
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return &exitError{code: 2, err: err}
		}
		args = fs.Args()
		if len(args) > 0 {
			entities = append(entities, args[0])
			args = args[1:]
		}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	l, err := logging.New(cfg, logging.Options{Stderr: c.stderr, NoFile: true})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.stdout)
	res, err := app.DryRun(ctx, cfg, l.Logger, entities, *n, func(r app.DryRecord) {
		if *asJSON {
			_ = enc.Encode(r)
			return
		}
		to := "nobody (no connector takes " + r.Entity + ")"
		if len(r.To) > 0 {
			to = strings.Join(r.To, ", ")
		}
		fmt.Fprintf(c.stdout, "%s %s → %s\n  %s\n", r.Entity, r.Key, to, r.Data)
	})
	if err != nil {
		return err
	}
	failed := false
	tw := tabwriter.NewWriter(c.stderr, 2, 4, 2, ' ', 0)
	if !*asJSON {
		tw = tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(c.stdout)
	}
	fmt.Fprintf(tw, "ENTITY\tSHOWN\tSKIPPED\tSENT TO\tPROBLEM\n")
	for _, e := range res {
		problem := ""
		if e.Err != nil {
			problem = e.Err.Error()
			failed = failed || len(e.To) > 0
		} else if len(e.Skipped) > 0 {
			problem = e.Skipped[0].String()
			if len(e.Skipped) > 1 {
				problem += fmt.Sprintf(" (and %d more)", len(e.Skipped)-1)
			}
		}
		to := strings.Join(e.To, ", ")
		if to == "" {
			to = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", e.Entity, e.Read, len(e.Skipped), to, problem)
	}
	tw.Flush()
	if failed {
		return &exitError{code: 1, err: fmt.Errorf("an entity a connector takes could not be read (see PROBLEM above)")}
	}
	return nil
}
