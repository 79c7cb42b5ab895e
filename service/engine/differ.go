package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"math"
	"sort"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/service/store"
)

// Fingerprint is the 64-bit FNV-1a hash of a record's canonical JSON.
func Fingerprint(data []byte) uint64 {
	h := fnv.New64a()
	h.Write(data)
	return h.Sum64()
}

func fpHex(fp uint64) string { return fmt.Sprintf("%016x", fp) }

// IdempotencyKey derives the stable key of an event from connector, entity, record
// key, operation and content fingerprint (DESIGN.md invariant 3): a resend after a
// crash carries the same key.
func IdempotencyKey(connector, entity, key, op, fingerprint string) string {
	h := sha256.New()
	for _, p := range []string{connector, entity, key, op, fingerprint} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

type pending struct {
	key  string
	op   string
	fp   uint64
	ver  uint64
	at   int64
	data []byte
}

// pollEntity reads one entity and commits what changed.
func (e *Engine) pollEntity(ctx context.Context, entity string, w mapping.Window, forceFull bool, loaded *snapLoad) (es EntitySummary) {
	t0 := time.Now()
	es.Entity = entity
	defer func() { es.Duration = time.Since(t0) }()
	fail := func(format string, a ...any) EntitySummary {
		es.Error = fmt.Sprintf(format, a...)
		return es
	}

	snap, err := loaded.wait()
	if err != nil {
		return fail("%v", err)
	}
	now := e.o.Now()
	at := now.In(e.o.Zone) // detection time of this poll's events
	known := snap.Len()    // the guard's base: records known before this poll
	windowed := e.o.Reader.Windowed(entity)
	if windowed && entity == mapping.EntitySlot && now.After(w.From) {
		// Slots in the past are not bookable: the slot window starts now.
		w.From = now
	}
	// Targets that have never been given this entity's current state (a connector
	// added, or an entity added to its list) get every record once: a full read, and
	// unchanged records too, for them only.
	var backfill []*Target
	for _, t := range e.o.Targets {
		if t.takes(entity) {
			if v, err := e.o.Store.GetMeta(ctx, store.BaseKey(t.Name, entity)); err != nil {
				return fail("%v", err)
			} else if v == "" {
				backfill = append(backfill, t)
			}
		}
	}
	if len(backfill) > 0 && snap.Len() > 0 {
		forceFull = true
	}
	var (
		backfills   []pending // unchanged records the backfill targets still need
		changes     []pending
		verOnly     []pending // version moved but content did not: snapshot only
		keylessSkip int
		seenNew     = map[string]bool{} // keys read that the snapshot does not know
	)
	onSkip := func(s mapping.Skip) {
		es.Skipped++
		if s.Key == "" {
			keylessSkip++
		} else if en := snap.Get(s.Key); en != nil {
			en.Seen = true // a row that exists but cannot be read is never "deleted"
		} else {
			seenNew[s.Key] = true
		}
		e.log.Warn("row skipped", "entity", s.Entity, "key", s.Key, "row", s.Row, "problem", s.Problem)
	}
	// Versions learned by this poll's scan: in versions for keys to fetch (versions
	// path); on a full read, in knownVers by snapshot position for known keys and in
	// newVers — by a 64-bit hash of the key with a seed of this poll, to stay small
	// when a first poll meets a million new keys — for new ones. Two keys sharing a
	// hash get version 0 ("unknown": fetched again next poll), never a wrong one.
	versions := map[string]uint64{}
	var knownVers []uint64
	var newVers map[uint64]uint64
	verSeed := maphash.MakeSeed()
	// Upserts are committed in chunks while the read goes on, so that a first poll of
	// a million records never holds them all in memory. Each chunk is one transaction
	// of its snapshot entries and their events (invariant 2); deletions are decided
	// only after the whole read, in the last transaction.
	flush := func() error {
		c := &store.Change{Entity: entity, KeepData: e.keepsData(entity)}
		e.addUpserts(c, entity, at, changes, verOnly, backfills, backfill)
		if err := e.o.Store.Commit(ctx, snap, c); err != nil {
			return err
		}
		es.Upserts += len(changes) + len(backfills)
		for _, p := range changes {
			if en := snap.Get(p.key); en != nil {
				en.Seen = true // now in the snapshot, and read in this poll
			}
		}
		changes, verOnly, backfills = changes[:0], verOnly[:0], backfills[:0]
		clear(seenNew)
		return nil
	}
	onItem := func(it mapping.Item) error {
		es.Read++
		key := it.Record.RecordKey()
		data, err := json.Marshal(it.Record)
		if err != nil {
			onSkip(mapping.Skip{Entity: entity, Key: key, Problem: "cannot encode record: " + err.Error()})
			return nil
		}
		fp := Fingerprint(data)
		ver := it.Version // read with the row, when the profile does
		if ver == 0 {
			ver = versions[key] // 0 when the profile has no version column
		}
		if ver == 0 && newVers != nil {
			if i := snap.Pos(key); i >= 0 && i < len(knownVers) {
				ver = knownVers[i]
			} else {
				ver = newVers[maphash.String(verSeed, key)]
			}
		}
		var wat int64
		if wr, ok := it.Record.(mapping.Windowed); ok {
			wat = wr.WindowDay().Unix()
		}
		en := snap.Get(key)
		if en != nil {
			if en.Seen {
				onSkip(mapping.Skip{Entity: entity, Key: key, Problem: "duplicate key in one read; the later row was ignored"})
				es.Read--
				return nil
			}
			en.Seen = true
			if en.FP == fp {
				if en.Ver != ver || en.At != wat {
					verOnly = append(verOnly, pending{key: key, fp: fp, ver: ver, at: wat})
				}
				if len(backfill) > 0 {
					backfills = append(backfills, pending{key: key, fp: fp, data: data})
				}
				return nil
			}
		} else {
			if seenNew[key] {
				onSkip(mapping.Skip{Entity: entity, Key: key, Problem: "duplicate key in one read; the later row was ignored"})
				es.Read--
				return nil
			}
			seenNew[key] = true
		}
		changes = append(changes, pending{key: key, op: connectors.OpUpsert, fp: fp, ver: ver, at: wat, data: data})
		if len(changes)+len(verOnly)+len(backfills) >= e.chunk {
			return flush()
		}
		return nil
	}

	useVersions := !forceFull && e.o.Reader.HasVersions(entity) && snap.Len() > 0
	if useVersions {
		es.Mode = "versions"
		var fetch []string
		err := e.o.Reader.ScanVersions(ctx, entity, w, func(key []byte, version uint64) error {
			if en := snap.GetBytes(key); en != nil {
				if en.Seen {
					return nil
				}
				if en.Ver == version && version != 0 {
					en.Seen = true
					es.Read++
					return nil
				}
			}
			k := string(key)
			versions[k] = version
			fetch = append(fetch, k)
			return nil
		})
		if err != nil {
			return fail("read (versions) failed, no deletions inferred: %v", err)
		}
		if len(fetch) > 0 {
			if err := e.o.Reader.ReadKeys(ctx, entity, fetch, onItem, onSkip); err != nil {
				return fail("read (changed rows) failed, no deletions inferred: %v", err)
			}
			// A key listed by the version scan but gone before its row was read was
			// deleted in between; it is not marked seen and the next poll decides.
		}
	} else {
		es.Mode = "full"
		if e.o.Reader.HasVersions(entity) && !e.o.Reader.RowVersions(entity) {
			// Learn the versions too, so that the next poll can take the cheap path.
			// Versions are read before rows: a row edited in between pairs an old
			// version with new content, which costs one refetch, never a missed change.
			newVers = map[uint64]uint64{}
			knownVers = make([]uint64, len(snap.Entries))
			if err := e.o.Reader.ScanVersions(ctx, entity, w, func(key []byte, version uint64) error {
				if i := snap.PosBytes(key); i >= 0 {
					knownVers[i] = version
					return nil
				}
				h := maphash.Bytes(verSeed, key)
				if _, taken := newVers[h]; taken {
					version = 0
				}
				newVers[h] = version
				return nil
			}); err != nil {
				return fail("read (versions) failed, no deletions inferred: %v", err)
			}
		}
		if err := e.o.Reader.ReadAll(ctx, entity, w, onItem, onSkip); err != nil {
			return fail("read failed, no deletions inferred: %v", err)
		}
	}
	if e.o.Hooks.AfterRead != nil {
		e.o.Hooks.AfterRead(entity)
	}

	// Records the snapshot knows that this read did not see.
	var missing []int
	for i := range snap.Entries {
		if !snap.Entries[i].Seen {
			missing = append(missing, i)
		}
	}
	var removes []string
	var deletes []string
	if windowed {
		var candidates []string
		for _, i := range missing {
			en := snap.Entries[i]
			if en.At < w.From.Unix() || en.At >= w.To.Unix() {
				removes = append(removes, snap.Keys[i]) // left the window: dropped silently
				es.LeftWindow++
				continue
			}
			candidates = append(candidates, snap.Keys[i])
		}
		// A record that vanished from the window may have moved out of it (an
		// appointment rescheduled far ahead). Ask the MIS by key before deleting.
		if len(candidates) > 0 {
			found := map[string]bool{}
			err := e.o.Reader.ReadKeys(ctx, entity, candidates, func(it mapping.Item) error {
				key := it.Record.RecordKey()
				found[key] = true
				data, err := json.Marshal(it.Record)
				if err != nil {
					return nil
				}
				en := snap.Get(key)
				if en != nil && en.FP != Fingerprint(data) {
					changes = append(changes, pending{key: key, op: connectors.OpUpsert, fp: Fingerprint(data), data: data})
				}
				return nil
			}, func(mapping.Skip) {})
			if err != nil {
				return fail("confirming %d vanished records failed, no deletions inferred: %v", len(candidates), err)
			}
			for _, k := range candidates {
				if found[k] {
					removes = append(removes, k) // moved out of the window
					es.LeftWindow++
				} else {
					deletes = append(deletes, k)
				}
			}
		}
	} else {
		for _, i := range missing {
			deletes = append(deletes, snap.Keys[i])
		}
	}
	if keylessSkip > 0 && len(deletes) > 0 {
		e.log.Warn("deletions postponed: some rows could not be keyed, so a vanished record may only be unreadable",
			"entity", entity, "unkeyed_rows", keylessSkip, "postponed", len(deletes))
		deletes = nil
	}

	// Mass-disappearance guard and operator-confirmed deletions.
	confirmed, err := e.o.Store.ConfirmedHeld(ctx, entity)
	if err != nil {
		return fail("%v", err)
	}
	change := &store.Change{Entity: entity, KeepData: e.keepsData(entity)}
	var release []string
	for k := range confirmed {
		release = append(release, k)
	}
	sort.Strings(release)
	var toDelete, toHold []string
	limit := int(math.Max(float64(e.o.Guard.MinCount), math.Floor(e.o.Guard.MaxShare*float64(known))))
	var unconfirmed []string
	for _, k := range deletes {
		if confirmed[k] {
			toDelete = append(toDelete, k)
		} else {
			unconfirmed = append(unconfirmed, k)
		}
	}
	if len(unconfirmed) > limit {
		toHold = unconfirmed
		e.log.Error("mass disappearance: deletions held until an operator confirms them (medsync deletions list / confirm)",
			"entity", entity, "vanished", len(unconfirmed), "known", known, "limit", limit)
	} else {
		toDelete = append(toDelete, unconfirmed...)
	}
	change.HeldSet = true
	change.Held = toHold
	change.Released = release
	es.Held = len(toHold)

	e.addUpserts(change, entity, at, changes, verOnly, backfills, backfill)
	es.Upserts += len(changes) + len(backfills)
	for _, k := range toDelete {
		en := snap.Get(k)
		change.Removes = append(change.Removes, k)
		e.enqueue(change, entity, k, connectors.OpDelete, en.FP, at, nil)
		es.Deletes++
	}
	change.Removes = append(change.Removes, removes...)
	// Held deletions written only when something is or was held, so that an
	// unchanged poll writes nothing.
	if len(toHold) == 0 && len(release) == 0 && !e.hadHeld(ctx, entity) {
		change.HeldSet = false
	}
	if len(backfill) > 0 {
		change.Meta = map[string]string{}
		for _, t := range backfill {
			change.Meta[store.BaseKey(t.Name, entity)] = at.Format(time.RFC3339)
		}
	}
	if err := e.o.Store.Commit(ctx, snap, change); err != nil {
		return fail("%v", err)
	}
	if e.o.Hooks.AfterCommit != nil {
		e.o.Hooks.AfterCommit(entity)
	}
	return es
}

// addUpserts adds changed records (snapshot and events), version-only moves (snapshot
// only) and backfills (events for the targets that need the full state) to c.
func (e *Engine) addUpserts(c *store.Change, entity string, at time.Time, changes, verOnly, backfills []pending, backfill []*Target) {
	for _, p := range changes {
		c.Puts = append(c.Puts, store.Put{Key: p.key, Entry: store.Entry{FP: p.fp, Ver: p.ver, At: p.at}, Data: p.data})
		e.enqueue(c, entity, p.key, connectors.OpUpsert, p.fp, at, p.data)
	}
	for _, p := range verOnly {
		c.Puts = append(c.Puts, store.Put{Key: p.key, Entry: store.Entry{FP: p.fp, Ver: p.ver, At: p.at}})
	}
	for _, p := range backfills {
		e.enqueueTo(c, backfill, entity, p.key, connectors.OpUpsert, p.fp, at, p.data)
	}
}

func (e *Engine) hadHeld(ctx context.Context, entity string) bool {
	held, err := e.o.Store.HeldDeletions(ctx)
	if err != nil {
		return true
	}
	for _, h := range held {
		if h.Entity == entity {
			return true
		}
	}
	return false
}

func (e *Engine) enqueue(c *store.Change, entity, key, op string, fp uint64, at time.Time, data []byte) {
	e.enqueueTo(c, e.o.Targets, entity, key, op, fp, at, data)
}

func (e *Engine) enqueueTo(c *store.Change, targets []*Target, entity, key, op string, fp uint64, at time.Time, data []byte) {
	fps := fpHex(fp)
	for _, t := range targets {
		if !t.takes(entity) {
			continue
		}
		c.Events = append(c.Events, store.OutEvent{
			Connector: t.Name, Entity: entity, Key: key, Op: op,
			Idem: IdempotencyKey(t.Name, entity, key, op, fps), Fingerprint: fps, At: at, Data: data,
		})
	}
}
