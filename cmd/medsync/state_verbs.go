package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"medsync/service/app"
	"medsync/service/store"
)

func init() {
	verbs["state"] = func(ctx context.Context, c *cli, args []string) error { return c.state(ctx, args) }
}

const stateUsage = "usage: medsync state check | medsync state backup | medsync state restore [file]"

// state checks, backs up and restores the state store. check and backup only read
// the store, so they run alongside the service; restore takes the state directory's
// lock and so refuses while the service (or any other medsync) runs.
func (c *cli) state(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "backup" && args[0] != "restore") || (args[0] != "restore" && len(args) > 1) || len(args) > 2 {
		return &exitError{code: 2, err: fmt.Errorf(stateUsage)}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	dir, bo := cfg.Service.StateDir, app.BackupOptions(cfg)
	switch args[0] {
	case "check":
		r, err := store.Check(ctx, dir, bo)
		if err != nil {
			return err
		}
		c.printBackups(r.Backups, cfg.Service.BackupDir)
		if len(r.Problems) > 0 {
			fmt.Fprintf(c.stdout, "✗ %s is damaged (SQLite integrity check):\n", r.Path)
			for _, p := range r.Problems {
				fmt.Fprintln(c.stdout, "    "+p)
			}
			return &exitError{code: 1, err: fmt.Errorf("state store %s is damaged: stop medsync, then run `medsync state restore` (the latest valid backup; see service/README.md, «State store faults»)", r.Path)}
		}
		fmt.Fprintf(c.stdout, "✓ %s: integrity check ok, schema version %d\n", r.Path, r.Version)
		return nil
	case "backup":
		b, err := store.BackupDir(ctx, dir, bo, "manual")
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "backup made: %s (%d bytes); the newest %d are kept in %s\n", b.Path, b.Size, cfg.Service.BackupKeep, cfg.Service.BackupDir)
		return nil
	default:
		file := ""
		if len(args) == 2 {
			file = args[1]
			if !filepath.IsAbs(file) && !strings.ContainsAny(file, `/\`) {
				file = filepath.Join(cfg.Service.BackupDir, file) // a name from `state check`
			}
		}
		b, err := store.Restore(ctx, dir, bo, file)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "state store restored from %s (made %s)\n", b.Path, b.Time.In(cfg.Location).Format("2006-01-02 15:04:05"))
		fmt.Fprintln(c.stdout, "the store it replaced is kept in the backups folder as replaced-…; start the service (or run medsync once):")
		fmt.Fprintln(c.stdout, "the next poll compares the MIS with the backup and sends what changed since it was made")
		return nil
	}
}

func (c *cli) printBackups(list []store.BackupInfo, dir string) {
	if len(list) == 0 {
		fmt.Fprintf(c.stdout, "no backups in %s yet (the service makes one every [service] backup_every; now: medsync state backup)\n", dir)
		return
	}
	fmt.Fprintf(c.stdout, "backups in %s (newest last):\n", dir)
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FILE\tMADE\tREASON\tBYTES")
	for _, b := range list {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", filepath.Base(b.Path), b.Time.Local().Format("2006-01-02 15:04:05"), b.Reason, b.Size)
	}
	tw.Flush()
}
