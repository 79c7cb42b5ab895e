// Command medsync is the clinic integration daemon: it polls the MIS database and
// keeps ONDOC, ЕПГУ-linked portals and Excel workflows in step with it. This file only
// parses the command line and dispatches to the verbs; the work lives in service/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"medsync/service/status"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	_ "time/tzdata" // zone database inside the binary: Windows servers have none

	// Connectors register themselves in init().
	_ "medsync/connectors/excel"
	_ "medsync/connectors/fer"
	_ "medsync/connectors/file"
	_ "medsync/connectors/nats"
	_ "medsync/connectors/ondoc"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `medsync — keeps the clinic's MIS in step with ONDOC, ЕПГУ-linked portals and Excel.

Usage:
  medsync [-c config.ini] <verb> [arguments]

Verbs:
  install | uninstall     install or remove the service (Windows service / systemd unit;
                          run as administrator / root); it runs "medsync -c <config> run"
  start | stop | restart  control the installed service
  status                  the daemon's state: last and next poll, queues, dead letters, alerts
  check [--all]           test the config, the MIS connection and profile, every connector;
                          --all reads every row and counts skipped rows per problem
  run                     poll and deliver in the foreground until Ctrl+C / SIGTERM
  once                    one poll and one delivery round, then exit: 1 something failed,
                          3 the guard held deletions or slot changes, 4 too many rows skipped
  test [entity ...] [-n N] [-json]
                          dry run: the canonical records the profile makes of the first N rows
                          (default 5) of each entity and the connectors they would go to;
                          writes nothing (no state store, no connector, no MIS write)
  demo init [flags]       create and seed the demo MIS database named in [mis] (see -h)
  dlq list [connector]    list dead letters (events a connector refused for good)
  dlq replay [connector] [id ...]
                          put dead letters back into the queue
  queue list              queued events per connector
  queue drop <connector>  discard the queue of a connector no longer in config.ini
  state check             integrity check of the state store, and its backups
  state backup            back the state store up now (beside the running service too)
  state restore [file]    replace the state store with a backup (the newest valid one when
                          no file is named); the service must be stopped
  deletions list [entity ... | all]
                          counts of deletions (and slot changes) held by the guard per entity;
                          the keys of the entities named
  deletions confirm [entity]
                          confirm held deletions and the slot changes they imply: the next
                          poll sends those still pending
  link issue --patient ID [--by USER]
                          issue a 9-digit link code and send it to the patient
  link status --patient ID
                          the patient's codes, delivery attempts and link state
  link revoke --patient ID [--by USER]
                          revoke the patient's active code and unlink
  passwd [NAME]           make a password hash for a [registrar] user
  profile export <demo|views> <folder>
                          copy a shipped MIS profile into a folder to adapt it
  config show             print the effective config, secrets masked
  version                 print the version

Options:
`

// verbs maps a verb to its implementation. Each file of this package adds its verbs
// in init(), so that adding a verb never edits a shared switch.
var verbs = map[string]func(ctx context.Context, c *cli, args []string) error{}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	// A soft heap limit, unless GOMEMLIMIT sets one: the garbage a first poll makes
	// (records encoded, rows decoded) is collected before it doubles the footprint of
	// the snapshot the poll holds. It is soft: a bigger snapshot still fits, with
	// more collection. The snapshot has no pointers, so collecting often is cheap: a
	// first poll of a million appointments peaks at ~122 MB with 88 MB here (130 MB
	// with 96, 115 MB with 80 at 15% more CPU).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(88 << 20)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	status.Version = version
	fs := flag.NewFlagSet("medsync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "path to config.ini (default: config.ini in the current folder, else next to medsync)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this run to the file (for support)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	verb, rest := fs.Arg(0), fs.Args()[1:]
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "medsync: -cpuprofile:", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "medsync: -cpuprofile:", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cli{cfgPath: resolveConfig(*cfgPath), stdout: stdout, stderr: stderr}
	var err error
	switch {
	case verb == "version":
		fmt.Fprintln(stdout, "medsync", version)
	case verb == "help" || verb == "-h" || verb == "--help":
		fs.Usage()
	case verbs[verb] != nil:
		err = verbs[verb](ctx, env, rest)
	default:
		fmt.Fprintf(stderr, "medsync: unknown verb %q\n\n", verb)
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "medsync:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// resolveConfig picks the config file: the -c flag, else config.ini in the current
// folder, else config.ini next to the executable (a Windows service starts in
// System32, so the executable's folder is where its config lives).
func resolveConfig(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if _, err := os.Stat("config.ini"); err == nil {
		return "config.ini"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "config.ini")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "config.ini"
}
