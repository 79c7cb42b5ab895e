// Command hub is the example regional hub for the nats connector: a durable JetStream
// pull consumer that rebuilds the current state of many clinics from one stream into
// a SQLite database (table records, keyed by clinic, entity and key; view current).
// It proves the contract in ../README.md and is a starting point for a region's own
// consumer; it is not part of the clinic's medsync binary.
//
//	go run ./connectors/nats/hub -url nats://hub:4222 -stream MEDSYNC -db hub.db
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	url := fs.String("url", "nats://127.0.0.1:4222", "comma-separated NATS server URLs")
	stream := fs.String("stream", "MEDSYNC", "the stream the clinics publish to")
	durable := fs.String("durable", "hub", "durable consumer name (one per hub database)")
	filter := fs.String("filter", "", "subject filter, e.g. medsync.*.appointment.* (default: the whole stream)")
	dbPath := fs.String("db", "hub.db", "SQLite database to rebuild the state in")
	creds := fs.String("creds", "", "a .creds file for the hub's account")
	user := fs.String("user", "", "user name; the password comes from $HUB_NATS_PASSWORD")
	tlsCA := fs.String("tls-ca", "", "PEM of the CA of the servers' certificates")
	batch := fs.Int("batch", 500, "messages per fetch and per transaction")
	once := fs.Bool("once", false, "exit when caught up instead of following the stream")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := []natsgo.Option{natsgo.Name("medsync hub"), natsgo.MaxReconnects(-1)}
	if *creds != "" {
		opts = append(opts, natsgo.UserCredentials(*creds))
	}
	if *user != "" {
		opts = append(opts, natsgo.UserInfo(*user, os.Getenv("HUB_NATS_PASSWORD")))
	}
	if *tlsCA != "" {
		opts = append(opts, natsgo.RootCAs(*tlsCA))
	}
	nc, err := natsgo.Connect(strings.TrimSpace(*url), opts...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", *url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	h, err := Open(*dbPath, log)
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cons, err := Consumer(ctx, js, *stream, *durable, *filter)
	if err != nil {
		return fmt.Errorf("consumer %s on stream %s: %w", *durable, *stream, err)
	}
	n, err := h.Pull(ctx, cons, *batch, *once)
	log.Info("hub: stopped", "applied", n)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
