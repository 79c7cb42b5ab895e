package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"medsync/mapping"
	"medsync/service/config"
)

// DryRecord is one canonical record a dry run produced, and the connectors that would
// receive it.
type DryRecord struct {
	Entity string          `json:"entity"`
	Key    string          `json:"key"`
	Data   json.RawMessage `json:"data"`
	To     []string        `json:"to"`
}

// DryEntity sums up one entity of a dry run.
type DryEntity struct {
	Entity  string
	Read    int
	Skipped []mapping.Skip
	To      []string // connectors that take the entity; empty: nobody would receive it
	Err     error
}

// DryRun reads up to n records of each entity the profile reads (or of the named
// ones) the way a poll would — same statements, window, zones and conversions — and
// hands each canonical record to emit, with the connectors that take its entity. It
// opens neither the state store nor any connector and never writes to the MIS: it
// shows what the profile produces and where it would go (telegraf --test).
func DryRun(ctx context.Context, cfg *config.Config, log *slog.Logger, entities []string, n int, emit func(DryRecord)) ([]DryEntity, error) {
	prof, err := mapping.LoadProfile(cfg.MIS.Profile)
	if err != nil {
		return nil, fmt.Errorf("%s: [mis] profile: %w", cfg.File, err)
	}
	db, dialect, err := mapping.OpenDB(ctx, cfg.MIS.Driver, cfg.MIS.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: [mis]: %w", cfg.File, err)
	}
	defer db.Close()
	src := mapping.NewSource(db, dialect, prof, mapping.SourceOptions{
		Zone: cfg.Location, QueryTimeout: cfg.MIS.QueryTimeout, Charset: cfg.MIS.Charset, Logger: log,
	})
	for _, e := range entities {
		if !slices.Contains(mapping.Entities, e) {
			return nil, fmt.Errorf("unknown entity %q; entities: %v", e, mapping.Entities)
		}
	}
	win := PollWindow(cfg, time.Now())
	var out []DryEntity
	for _, entity := range mapping.Entities {
		if len(entities) > 0 && !slices.Contains(entities, entity) {
			continue
		}
		if !src.Has(entity) {
			out = append(out, DryEntity{Entity: entity, To: takers(cfg, entity), Err: errNoStatement})
			continue
		}
		out = append(out, dryEntity(ctx, src, entity, win, n, takers(cfg, entity), emit))
	}
	return out, nil
}

var (
	errNoStatement = errors.New("the profile has no statement for it: not synced")
	errEnough      = errors.New("enough rows")
)

func dryEntity(ctx context.Context, src *mapping.Source, entity string, win mapping.Window, n int, to []string, emit func(DryRecord)) DryEntity {
	d := DryEntity{Entity: entity, To: to}
	err := src.ReadAll(ctx, entity, win, func(it mapping.Item) error {
		if n > 0 && d.Read >= n {
			return errEnough
		}
		data, err := mapping.Encode(it.Record)
		if err != nil {
			return fmt.Errorf("%s %s: encoding the record: %w", entity, it.Record.RecordKey(), err)
		}
		d.Read++
		emit(DryRecord{Entity: entity, Key: it.Record.RecordKey(), Data: data, To: to})
		return nil
	}, func(s mapping.Skip) { d.Skipped = append(d.Skipped, s) })
	if err != nil && !errors.Is(err, errEnough) {
		d.Err = err
	}
	return d
}

// takers are the enabled connectors that take entity.
func takers(cfg *config.Config, entity string) []string {
	var out []string
	for _, cc := range cfg.Enabled() {
		if slices.Contains(cc.Entities, entity) {
			out = append(out, cc.Name)
		}
	}
	return out
}

// PollWindow is the window of days a poll started at now reads: [service] timezone
// midnights, [mis] days_back before today to days_ahead after it.
func PollWindow(cfg *config.Config, now time.Time) mapping.Window {
	n := now.In(cfg.Location)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, cfg.Location)
	return mapping.Window{From: today.AddDate(0, 0, -cfg.MIS.DaysBack), To: today.AddDate(0, 0, cfg.MIS.DaysAhead+1)}
}
