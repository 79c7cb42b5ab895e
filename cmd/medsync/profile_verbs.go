package main

import (
	"context"
	"fmt"

	"medsync/mapping"
)

func init() {
	verbs["profile"] = func(_ context.Context, c *cli, args []string) error { return c.profile(args) }
}

// profile export NAME DIR writes a shipped profile into a folder, so that a clinic's
// DBA can adapt it to their MIS and point [mis] profile at the folder.
func (c *cli) profile(args []string) error {
	if len(args) != 3 || args[0] != "export" {
		return &exitError{code: 2, err: fmt.Errorf("usage: medsync profile export <demo|views> <folder>")}
	}
	files, err := mapping.ExportProfile(args[1], args[2])
	if err != nil {
		return fmt.Errorf("profile export: %w", err)
	}
	for _, f := range files {
		fmt.Fprintln(c.stdout, "wrote", f)
	}
	fmt.Fprintf(c.stdout, "edit the statements for your MIS, then set [mis] profile = %s and run medsync check\n", args[2])
	return nil
}
