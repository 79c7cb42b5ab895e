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
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
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

func fpHex(fp uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[fp&0xF]
		fp >>= 4
	}
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// IdempotencyKey derives the stable key of an event from connector, entity, record
// key, operation and content fingerprint (DESIGN.md invariant 3): a resend after a
// crash carries the same key.
func IdempotencyKey(connector, entity, key, op, fingerprint string) string {
	var buf [192]byte // on the stack for the usual lengths
	b := buf[:0]
	for _, p := range [...]string{connector, entity, key, op, fingerprint} {
		b = append(b, p...)
		b = append(b, 0)
	}
	sum := sha256.Sum256(b)
	var out [32]byte
	hex.Encode(out[:], sum[:16]) // the first 32 hex digits of the SHA-256
	return string(out[:])
}

type pending struct {
	key    string
	op     string
	fp     uint64
	ver    uint64
	at     int64
	sum    uint32 // the record's checksum in its day's summary (summary.go), when hasSum
	hasSum bool
	data   []byte
}

// entityPoll is one entity's poll in progress: what it read so far and what it
// will commit. pollEntity runs its steps in order: prepare, read (which compares
// every row with the snapshot as it streams in), vanished (which missing records are
// deletions), guard (which deletions go out now and which are held) and commit.
type entityPoll struct {
	e        *Engine
	ctx      context.Context // the poll's: chunk commits run inside the read callbacks
	entity   string
	w        mapping.Window
	snap     *store.Snapshot
	at       time.Time // detection time of this poll's events
	started  time.Time // when the poll of the entity began, by Options.Now
	known    int       // the guard's base: records known before this poll
	windowed bool
	es       *EntitySummary
	// backfill are the targets that have never been given this entity's current
	// state: they get every record once, unchanged ones too.
	backfill []*Target

	backfills   []pending // unchanged records the backfill targets still need
	changes     []pending
	verOnly     []pending // version moved but content did not: snapshot only
	keylessSkip int
	seenNew     map[string]bool // keys read that the snapshot does not know
	// flips are changes of known records into their guarded state (a slot turning
	// free, mapping.Flipper): decided by the guard after the read, never chunked.
	flips []pending
	// postponed are vanished keys whose deletion this poll could not decide.
	postponed []string
	// drift counts records whose content changed while their version did not (a
	// full read of an entity with a version column); driftKeys keeps a few.
	drift     int
	driftKeys []string
	// sources are the outcomes of the entities polled before this one, for the
	// guard of derived entities (DESIGN.md invariant 9).
	sources sourceOutcomes

	// Versions learned by this poll's scan: in versions for keys to fetch (versions
	// path); on a full read, in knownVers by snapshot position for known keys and in
	// newVers — by a 64-bit hash of the key with a seed of this poll, to stay small
	// when a first poll meets a million new keys — for new ones. Two keys sharing a
	// hash get version 0 ("unknown": fetched again next poll), never a wrong one.
	versions  map[string]uint64
	mis       *misDays          // the MIS's day summaries, when unchangedBySummary asked for them
	sums      map[string]uint32 // checksums learned by the summary path's scan, for keys to fetch
	fetch     []string          // keys the summary path's scans found changed or new
	knownVers []uint64
	newVers   map[uint64]uint64
	verSeed   maphash.Seed
	// pre are the rows of <entity>.changed a partial poll's attempt read (preRead),
	// explained again against the whole snapshot.
	pre     []changedRow
	preRead bool
	// partial is set when the poll runs over a partial snapshot (partial.go).
	partial *partialBase
	// id names the poll in its batch rows (flush), made at the first chunk.
	id string
	// written reports the write of the chunk in flight (flush), nil when none is.
	written chan error
}

// deletionPlan is what the guard decided for the records that vanished and for the
// derived records' flips.
type deletionPlan struct {
	toDelete  []string  // deletions that go out in this poll
	toHold    []string  // deletions held until an operator confirms them
	release   []string  // confirmed held rows, cleared from the held list
	flipsOut  []pending // flips that go out in this poll
	flipsHeld []string  // flips held until an operator confirms them
	hadHeld   bool      // the entity had held rows before this poll
}

// sourceOutcome is what one entity's poll settled, for the entities derived from it.
type sourceOutcome struct {
	doubt  string  // why its deletions were not decided this poll; "" when they were
	heldAt []int64 // sorted window instants of its held deletions (0: not windowed)
}

// sourceOutcomes are the outcomes of one Poll's entities so far, by entity.
type sourceOutcomes map[string]*sourceOutcome

// pollEntity reads one entity and commits what changed.
//
// sources holds the outcomes of the entities polled before in the same Poll; this
// entity's outcome is added to it.
func (e *Engine) pollEntity(ctx context.Context, entity string, w mapping.Window, forceFull bool, loaded *snapLoad, sources sourceOutcomes) (es EntitySummary) {
	t0 := time.Now()
	es.Entity = entity
	defer func() { es.Duration = time.Since(t0) }()
	outcome := &sourceOutcome{doubt: "its read or commit did not finish"}
	if sources != nil {
		sources[entity] = outcome
	}
	fail := func(err error) EntitySummary {
		es.Error = err.Error()
		return es
	}
	t1 := e.o.Now() // before the first statement: <entity>.changed starts here next time
	check, done, err := e.unchangedBySummary(ctx, entity, w, forceFull, &es)
	if err != nil {
		return fail(err)
	}
	if done {
		*outcome = sourceOutcome{}
		for _, hook := range []func(string){e.o.Hooks.AfterRead, e.o.Hooks.AfterCommit} {
			if hook != nil {
				hook(entity)
			}
		}
		return es
	}
	p, pre, err := e.partialPoll(ctx, entity, w, check, &es)
	if err != nil {
		return fail(err)
	}
	if p == nil {
		if p, forceFull, err = e.preparePoll(ctx, entity, w, forceFull, loaded, &es); err != nil {
			return fail(err)
		}
		p.pre, p.preRead = pre, pre != nil
	}
	p.sources, p.mis, p.started = sources, check.mis, t1
	err = p.read(ctx, forceFull)
	if werr := p.settle(); err == nil {
		err = werr // the read's last chunk is written before anything else happens
	}
	if err != nil {
		return fail(err)
	}
	if e.o.Hooks.AfterRead != nil {
		e.o.Hooks.AfterRead(entity)
	}
	deletes, removes, err := p.vanished(ctx)
	if err != nil {
		return fail(err)
	}
	plan, err := p.guard(ctx, deletes)
	if err != nil {
		return fail(err)
	}
	if err := p.commit(ctx, plan, removes); err != nil {
		return fail(err)
	}
	*outcome = p.outcome(plan)
	if e.o.Hooks.AfterCommit != nil {
		e.o.Hooks.AfterCommit(entity)
	}
	return es
}

// preparePoll waits for the entity's snapshot, narrows the window (slots in the past
// are not bookable) and finds the targets that need a backfill, which forces a full
// read.
func (e *Engine) preparePoll(ctx context.Context, entity string, w mapping.Window, forceFull bool, loaded *snapLoad, es *EntitySummary) (*entityPoll, bool, error) {
	t0 := time.Now()
	snap, err := loaded.wait()
	if err != nil {
		return nil, false, err
	}
	e.log.Debug("snapshot loaded", "entity", entity, "records", snap.Len(), "waited_ms", time.Since(t0).Milliseconds())
	p := e.newEntityPoll(ctx, entity, w, snap, es)
	for _, t := range e.o.Targets {
		if t.takes(entity) {
			if v, err := e.o.Store.GetMeta(ctx, store.BaseKey(t.Name, entity)); err != nil {
				return nil, false, err
			} else if v == "" {
				p.backfill = append(p.backfill, t)
			}
		}
	}
	if len(p.backfill) > 0 && snap.Len() > 0 {
		forceFull = true
	}
	return p, forceFull, nil
}

// chunkSize is how many pending upserts a chunk commits: fewer when the changed rows
// of a summary poll are read, so that their delivery starts while the rest are read.
func (p *entityPoll) chunkSize() int {
	if p.es.Mode == "summary" {
		return min(p.e.chunk, changedChunk)
	}
	return p.e.chunk
}

// changedChunk is the chunk of a summary poll's changed rows.
const changedChunk = 2000

// newEntityPoll starts an entity's poll over snap.
func (e *Engine) newEntityPoll(ctx context.Context, entity string, w mapping.Window, snap *store.Snapshot, es *EntitySummary) *entityPoll {
	now := e.o.Now()
	p := &entityPoll{
		e: e, ctx: ctx, entity: entity, snap: snap, es: es,
		at:       now.In(e.o.Zone),
		known:    snap.Len(),
		windowed: e.o.Reader.Windowed(entity),
		seenNew:  map[string]bool{},
		versions: map[string]uint64{},
		verSeed:  maphash.MakeSeed(),
	}
	if p.windowed && entity == mapping.EntitySlot && now.After(w.From) {
		// Slots in the past are not bookable: the slot window starts now.
		w.From = now
	}
	p.w = w
	return p
}

// read streams the entity from the MIS, comparing each row with the snapshot as it
// comes: through the version scan and a read of the changed keys when the profile
// declares versions and the snapshot is not empty, else through a full read.
func (p *entityPoll) read(ctx context.Context, forceFull bool) error {
	if p.partial != nil {
		return p.readPartial(ctx)
	}
	r := p.e.o.Reader
	if !forceFull && r.HasVersions(p.entity) && p.snap.Len() > 0 {
		if sr, ok := r.(mapping.Summarizer); ok && p.windowed && sr.HasSummary(p.entity) {
			return p.readSummarized(ctx, sr)
		}
		p.es.Mode = "versions"
		return p.readChanged(ctx)
	}
	p.es.Mode = "full"
	return p.readFull(ctx)
}

// readChanged scans (key, version) pairs and reads in full only the keys whose
// version moved or that the snapshot does not know.
func (p *entityPoll) readChanged(ctx context.Context) error {
	r := p.e.o.Reader
	var fetch []string
	err := r.ScanVersions(ctx, p.entity, p.w, func(key []byte, version uint64) error {
		if en := p.snap.GetBytes(key); en != nil {
			if en.Seen {
				return nil
			}
			if en.Ver == version && version != 0 {
				en.Seen = true
				p.es.Read++
				return nil
			}
		}
		k := string(key)
		p.versions[k] = version
		fetch = append(fetch, k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read (versions) failed, no deletions inferred: %v", err)
	}
	if len(fetch) > 0 {
		if err := r.ReadKeys(ctx, p.entity, fetch, p.compare, p.skipped); err != nil {
			return fmt.Errorf("read (changed rows) failed, no deletions inferred: %v", err)
		}
		// A key listed by the version scan but gone before its row was read was
		// deleted in between; it is not marked seen and the next poll decides.
	}
	return nil
}

// readFull reads every row of the entity (inside the window). When the profile has a
// version column that full rows do not carry, the versions are scanned first so that
// the next poll can take the cheap path.
func (p *entityPoll) readFull(ctx context.Context) error {
	r := p.e.o.Reader
	if p.snap.Len() == 0 {
		p.reserve(ctx)
	}
	if r.HasVersions(p.entity) && !r.RowVersions(p.entity) {
		// Versions are read before rows: a row edited in between pairs an old
		// version with new content, which costs one refetch, never a missed change.
		p.newVers = map[uint64]uint64{}
		p.knownVers = make([]uint64, len(p.snap.Entries))
		if err := r.ScanVersions(ctx, p.entity, p.w, func(key []byte, version uint64) error {
			if i := p.snap.PosBytes(key); i >= 0 {
				p.knownVers[i] = version
				return nil
			}
			h := maphash.Bytes(p.verSeed, key)
			if _, taken := p.newVers[h]; taken {
				version = 0
			}
			p.newVers[h] = version
			return nil
		}); err != nil {
			return fmt.Errorf("read (versions) failed, no deletions inferred: %v", err)
		}
	}
	if err := r.ReadAll(ctx, p.entity, p.w, p.compare, p.skipped); err != nil {
		return fmt.Errorf("read failed, no deletions inferred: %v", err)
	}
	return nil
}

// skipped counts a row that was read but could not be decoded. A row that exists
// but cannot be read is never "deleted": its snapshot entry is marked seen.
func (p *entityPoll) skipped(s mapping.Skip) {
	p.es.Skipped++
	if s.Key == "" {
		p.keylessSkip++
	} else if en := p.snap.Get(s.Key); en != nil {
		en.Seen = true
	} else {
		p.seenNew[s.Key] = true
	}
	p.e.log.Warn("row skipped", "entity", s.Entity, "key", s.Key, "row", s.Row, "problem", s.Problem)
}

// compare is the differ: it compares one record read with its snapshot entry and
// queues an upsert (content changed or new), a version-only move (snapshot only) or
// a backfill. Pending upserts are committed in chunks while the read goes on.
func (p *entityPoll) compare(it mapping.Item) error {
	p.es.Read++
	key := it.Record.RecordKey()
	data, err := mapping.Encode(it.Record)
	if err != nil {
		p.skipped(mapping.Skip{Entity: p.entity, Key: key, Problem: "cannot encode record: " + err.Error()})
		return nil
	}
	fp := Fingerprint(data)
	ver := p.version(key, it.Version)
	sum, hasSum := it.Checksum, it.HasChecksum
	if s, ok := p.sums[key]; ok && !hasSum {
		sum, hasSum = s, true
	}
	var wat int64
	if wr, ok := it.Record.(mapping.Windowed); ok {
		wat = wr.WindowDay().Unix()
	}
	en := p.snap.Get(key)
	if en != nil {
		if en.Seen {
			p.duplicate(key)
			return nil
		}
		en.Seen = true
		if en.FP == fp {
			if en.Ver != ver || en.At != wat || en.HasSum != hasSum || en.Sum != sum {
				p.verOnly = append(p.verOnly, pending{key: key, fp: fp, ver: ver, at: wat, sum: sum, hasSum: hasSum})
			}
			if len(p.backfill) > 0 {
				p.backfills = append(p.backfills, pending{key: key, fp: fp, data: data})
			}
			return nil
		}
		if ver != 0 && ver == en.Ver && p.es.Mode == "full" {
			p.versionDrift(key)
		}
		if fl, ok := it.Record.(mapping.Flipper); ok && fl.Flipped() {
			p.flips = append(p.flips, pending{key: key, op: connectors.OpUpsert, fp: fp, ver: ver, at: wat, data: data})
			return nil
		}
	} else {
		if p.seenNew[key] {
			p.duplicate(key)
			return nil
		}
		p.seenNew[key] = true
	}
	p.changes = append(p.changes, pending{key: key, op: connectors.OpUpsert, fp: fp, ver: ver, at: wat, sum: sum, hasSum: hasSum, data: data})
	if len(p.changes)+len(p.verOnly)+len(p.backfills) >= p.chunkSize() {
		return p.flush()
	}
	return nil
}

// maxReserve bounds what reserve trusts a day summary's count for (a wrong summary
// must not commit a gigabyte on a Windows server); a bigger snapshot still grows.
const maxReserve = 4_000_000

// reserve sizes an empty snapshot for the rows the MIS's day summaries count, when the
// entity has them, so that a first poll of a million records does not grow the
// snapshot's arrays by copying them.
func (p *entityPoll) reserve(ctx context.Context) {
	sr, ok := p.e.summaryEntity(p.entity)
	if !ok {
		return
	}
	m := p.mis
	if m == nil || m.w != p.w {
		m = p.e.readMISDays(ctx, sr, p.entity, p.w)
	}
	if m.err != nil {
		return
	}
	var n int64
	for _, d := range m.sums {
		n += d.rows
	}
	p.snap.Reserve(int(min(n, maxReserve)))
}

// versionDrift counts a record whose content changed while its version did not: the
// MIS's modified column missed an update, which the cheap path would never see.
func (p *entityPoll) versionDrift(key string) {
	p.drift++
	if len(p.driftKeys) < maxDriftKeys {
		p.driftKeys = append(p.driftKeys, key)
	}
}

// maxDriftKeys is how many keys of records with a missed version the alert names.
const maxDriftKeys = 5

func (p *entityPoll) duplicate(key string) {
	p.skipped(mapping.Skip{Entity: p.entity, Key: key, Problem: "duplicate key in one read; the later row was ignored"})
	p.es.Read--
}

// version is the version of a record read: the one read with the row when the
// profile does, else the one learned by this poll's scan (0 when there is none).
func (p *entityPoll) version(key string, rowVer uint64) uint64 {
	ver := rowVer
	if ver == 0 {
		ver = p.versions[key]
	}
	if ver == 0 && p.newVers != nil {
		if i := p.snap.Pos(key); i >= 0 && i < len(p.knownVers) {
			ver = p.knownVers[i]
		} else {
			ver = p.newVers[maphash.String(p.verSeed, key)]
		}
	}
	return ver
}

// flush commits the pending upserts so far. Upserts are committed in chunks while
// the read goes on, so that a first poll of a million records never holds them all
// in memory. Each chunk is one transaction of its snapshot entries and their events
// (invariant 2); deletions are decided only after the whole read, in the last
// transaction. A full read's chunk is written on a goroutine of its own while the
// read goes on (settle waits for it); the snapshot in memory is only ever changed
// here, on the reading goroutine.
func (p *entityPoll) flush() error {
	e := p.e
	if err := p.settle(); err != nil {
		return err
	}
	if p.id == "" {
		p.id = strconv.FormatUint(rand.Uint64(), 36)
	}
	// The chunk's events go into the outbox as batch rows, one per connector batch
	// (store/batch.go): a million events are not a million rows to insert and delete.
	c := &store.Change{Entity: p.entity, KeepData: e.keepsData(p.entity), Batch: e.batchSizes, Poll: p.id}
	e.addUpserts(c, p.entity, p.at, p.changes, p.verOnly, p.backfills, p.backfill)
	prep := store.Prepare(p.snap, c) // the snapshot in memory: on this goroutine only
	p.es.Upserts += len(p.changes) + len(p.backfills)
	for _, c := range p.changes {
		if en := p.snap.Get(c.key); en != nil {
			en.Seen = true // now in the snapshot, and read in this poll
		}
	}
	p.changes, p.verOnly, p.backfills = p.changes[:0], p.verOnly[:0], p.backfills[:0]
	clear(p.seenNew)
	write := func() error {
		if err := e.o.Store.Write(p.ctx, prep); err != nil {
			return err
		}
		e.chunkCommitted()
		return nil
	}
	if p.es.Mode != "full" || prep.Sync() {
		return write()
	}
	// A full read goes on while its chunk is written: the transaction is the store's
	// (snapshot pages, outbox, in one, as always), the snapshot in memory stays with
	// the read. One chunk at a time: the next flush, and the end of the read, wait.
	p.written = make(chan error, 1)
	go func() { p.written <- write() }()
	return nil
}

// settle waits for the chunk in flight, if any, and returns its write's error.
func (p *entityPoll) settle() error {
	if p.written == nil {
		return nil
	}
	err := <-p.written
	p.written = nil
	return err
}

// vanished sorts the records the snapshot knows that this read did not see: a
// windowed record that left the window is dropped silently (removes); one that
// vanished from inside the window is looked up by key first, since it may have moved
// out of it; what is really gone is a deletion (deletes). Deletions are postponed
// when some rows could not be keyed.
func (p *entityPoll) vanished(ctx context.Context) (deletes, removes []string, err error) {
	snap := p.snap
	var missing []int
	for i := range snap.Entries {
		if !snap.Entries[i].Seen {
			missing = append(missing, i)
		}
	}
	if p.windowed {
		var candidates []string
		for _, i := range missing {
			en := snap.Entries[i]
			if en.At < p.w.From.Unix() || en.At >= p.w.To.Unix() {
				removes = append(removes, snap.Key(i)) // left the window: dropped silently
				p.es.LeftWindow++
				continue
			}
			candidates = append(candidates, snap.Key(i))
		}
		if len(candidates) > 0 {
			found, err := p.lookUp(ctx, candidates)
			if err != nil {
				return nil, nil, err
			}
			for _, k := range candidates {
				read, exists := found[k]
				switch {
				case read:
					removes = append(removes, k) // moved out of the window
					p.es.LeftWindow++
				case !exists:
					deletes = append(deletes, k)
				}
			}
		}
	} else {
		for _, i := range missing {
			deletes = append(deletes, snap.Key(i))
		}
	}
	if p.keylessSkip > 0 && len(deletes) > 0 {
		p.e.log.Warn("deletions postponed: some rows could not be keyed, so a vanished record may only be unreadable",
			"entity", p.entity, "unkeyed_rows", p.keylessSkip, "postponed", len(deletes))
		p.postponed, deletes = deletes, nil
	}
	return deletes, removes, nil
}

// lookUp asks the MIS by key for records that vanished from the window (an
// appointment rescheduled far ahead) and returns the keys that still exist: true for
// a record read (whose upsert is queued when its content changed), false for a row
// that exists but could not be decoded.
func (p *entityPoll) lookUp(ctx context.Context, candidates []string) (map[string]bool, error) {
	found := map[string]bool{}
	err := p.e.o.Reader.ReadKeys(ctx, p.entity, candidates, func(it mapping.Item) error {
		key := it.Record.RecordKey()
		if found[key] {
			return nil // a key read twice: the first row counts
		}
		found[key] = true
		data, err := mapping.Encode(it.Record)
		if err != nil {
			return nil
		}
		en := p.snap.Get(key)
		if en != nil && en.FP != Fingerprint(data) {
			p.changes = append(p.changes, pending{key: key, op: connectors.OpUpsert, fp: Fingerprint(data), data: data})
		}
		return nil
	}, func(s mapping.Skip) {
		// A row that exists but cannot be decoded is present: never deleted, and
		// kept in the snapshot as it was, to be looked up again next poll.
		if s.Key != "" {
			if _, ok := found[s.Key]; !ok {
				found[s.Key] = false
			}
		}
		p.skipped(s)
	})
	if err != nil {
		return nil, fmt.Errorf("confirming %d vanished records failed, no deletions inferred: %v", len(candidates), err)
	}
	return found, nil
}

// guard is the mass-disappearance guard (invariant 1): deletions an operator
// confirmed go out; the others go out only when they are at most
// max(MinCount, MaxShare × known) records, else they are all held. Flips of a derived
// entity are guarded the same way (guardFlips).
func (p *entityPoll) guard(ctx context.Context, deletes []string) (deletionPlan, error) {
	var plan deletionPlan
	e := p.e
	held, err := e.o.Store.HeldOf(ctx, p.entity)
	if err != nil {
		return plan, err
	}
	plan.hadHeld = len(held) > 0
	confirmed := map[string]bool{}
	for _, h := range held {
		if h.Confirmed {
			confirmed[h.Key] = true
		}
	}
	limit := p.limit()
	var unconfirmed []string
	for _, k := range deletes {
		if confirmed[k] {
			plan.toDelete = append(plan.toDelete, k)
		} else {
			unconfirmed = append(unconfirmed, k)
		}
	}
	if len(unconfirmed) > limit {
		plan.toHold = unconfirmed
		e.log.Error("mass disappearance: deletions held until an operator confirms them (medsync deletions list / confirm)",
			"entity", p.entity, "vanished", len(unconfirmed), "known", p.known, "limit", limit)
	} else {
		plan.toDelete = append(plan.toDelete, unconfirmed...)
	}
	keep := p.guardFlips(&plan, confirmed, held)
	for _, k := range p.postponed {
		keep[k] = true
	}
	// Confirmed rows are released, except those this poll could not decide.
	for k := range confirmed {
		if !keep[k] {
			plan.release = append(plan.release, k)
		}
	}
	sort.Strings(plan.release)
	p.es.Held = len(plan.toHold)
	p.es.HeldFlips = len(plan.flipsHeld)
	return plan, nil
}

// limit is the most records of the entity that may vanish (or flip) in one poll
// without an operator's confirmation.
func (p *entityPoll) limit() int {
	g := p.e.o.Guard
	return int(math.Max(float64(g.MinCount), math.Floor(g.MaxShare*float64(p.known))))
}

// guardFlips decides the flips of a derived entity (DESIGN.md invariant 9): while a
// source entity's deletions are in doubt (its read failed, or its deletions were
// postponed) every flip is postponed — the snapshot keeps the old state and nothing
// is sent; a flip near a held deletion of a source (within a day of it) is held; the
// other unconfirmed flips go out unless there are more than the guard's limit, then
// they are all held. Confirmed flips go out. It returns the confirmed keys that must
// stay confirmed (flips postponed).
func (p *entityPoll) guardFlips(plan *deletionPlan, confirmed map[string]bool, held []store.Held) map[string]bool {
	keep := map[string]bool{}
	if len(p.flips) == 0 {
		return keep
	}
	if src, why := p.sourceInDoubt(); src != "" {
		for _, f := range p.flips {
			keep[f.key] = true
		}
		// Flips held before stay listed while they cannot be decided.
		for _, h := range held {
			if h.Kind == store.HeldFlip && !h.Confirmed && keep[h.Key] {
				plan.flipsHeld = append(plan.flipsHeld, h.Key)
			}
		}
		p.e.log.Warn("changes to "+p.entity+" postponed: a source entity's deletions are not decided in this poll",
			"entity", p.entity, "source", src, "reason", why, "postponed", len(p.flips))
		return keep
	}
	var near, rest []pending
	for _, f := range p.flips {
		switch {
		case confirmed[f.key]:
			plan.flipsOut = append(plan.flipsOut, f)
		case p.nearHeldSource(f.at):
			near = append(near, f)
		default:
			rest = append(rest, f)
		}
	}
	if limit := p.limit(); len(rest) > limit {
		p.e.log.Error("mass flip: changes held until an operator confirms them (medsync deletions list / confirm)",
			"entity", p.entity, "flips", len(rest), "known", p.known, "limit", limit)
		near = append(near, rest...)
	} else {
		plan.flipsOut = append(plan.flipsOut, rest...)
	}
	if len(near) > 0 {
		p.e.log.Error("changes held with the source deletions they follow from (medsync deletions list / confirm)",
			"entity", p.entity, "held", len(near))
	}
	for _, f := range near {
		plan.flipsHeld = append(plan.flipsHeld, f.key)
	}
	return keep
}

// sourceInDoubt returns a source entity of this (derived) entity whose deletions
// this poll did not decide, and why; "" when there is none.
func (p *entityPoll) sourceInDoubt() (string, string) {
	for _, src := range mapping.DerivedFrom(p.entity) {
		if o := p.sources[src]; o != nil && o.doubt != "" {
			return src, o.doubt
		}
	}
	return "", ""
}

// nearHeldSource reports whether a source entity has a held deletion within a day of
// at (any held deletion, when the source is not windowed).
func (p *entityPoll) nearHeldSource(at int64) bool {
	const day = int64(24 * 60 * 60)
	for _, src := range mapping.DerivedFrom(p.entity) {
		o := p.sources[src]
		if o == nil || len(o.heldAt) == 0 {
			continue
		}
		if o.heldAt[0] == 0 {
			return true
		}
		i := sort.Search(len(o.heldAt), func(i int) bool { return o.heldAt[i] >= at-day })
		if i < len(o.heldAt) && o.heldAt[i] <= at+day {
			return true
		}
	}
	return false
}

// outcome is what this poll settled, for the entities derived from this one.
func (p *entityPoll) outcome(plan deletionPlan) sourceOutcome {
	var o sourceOutcome
	if len(p.postponed) > 0 {
		o.doubt = "deletions postponed: some rows could not be keyed"
	}
	for _, k := range plan.toHold {
		if en := p.snap.Get(k); en != nil {
			o.heldAt = append(o.heldAt, en.At)
		}
	}
	sort.Slice(o.heldAt, func(i, j int) bool { return o.heldAt[i] < o.heldAt[j] })
	return o
}

// commit writes the last transaction of the poll: the remaining upserts and the flips
// that go out, the deletions and their events, the records dropped from the window,
// the held list, the version-drift alert and the backfill marks.
func (p *entityPoll) commit(ctx context.Context, plan deletionPlan, removes []string) error {
	e, entity := p.e, p.entity
	// Poll: this poll's batch rows stay as they are (their records are not these).
	change := &store.Change{Entity: entity, KeepData: e.keepsData(entity), Poll: p.id}
	change.HeldSet = true
	change.Held = plan.toHold
	change.HeldFlips = plan.flipsHeld
	change.Released = plan.release

	changes := append(p.changes, plan.flipsOut...)
	e.addUpserts(change, entity, p.at, changes, p.verOnly, p.backfills, p.backfill)
	p.es.Upserts += len(changes) + len(p.backfills)
	for _, k := range plan.toDelete {
		en := p.snap.Get(k)
		change.Removes = append(change.Removes, k)
		e.enqueue(change, entity, k, connectors.OpDelete, en.FP, p.at, nil)
		p.es.Deletes++
	}
	change.Removes = append(change.Removes, removes...)
	// Held rows written only when something is or was held, so that an unchanged
	// poll writes nothing.
	if len(plan.toHold) == 0 && len(plan.flipsHeld) == 0 && len(plan.release) == 0 && !plan.hadHeld {
		change.HeldSet = false
	}
	change.Meta = p.driftMeta(ctx)
	if _, ok := e.tableSummaryEntity(entity); ok {
		change.Summarize = p.summarize
	}
	if _, ok := e.summaryEntity(entity); ok {
		change.Summarize = p.summarize
		if change.Meta == nil {
			change.Meta = map[string]string{}
		}
		change.Meta[sinceKey(entity)] = p.started.Add(-changedOverlap).UTC().Format(time.RFC3339)
	}
	if len(p.backfill) > 0 {
		if change.Meta == nil {
			change.Meta = map[string]string{}
		}
		for _, t := range p.backfill {
			change.Meta[store.BaseKey(t.Name, entity)] = p.at.Format(time.RFC3339)
		}
	}
	return e.o.Store.Commit(ctx, p.snap, change)
}

// driftMeta is the version-drift alert to write (DESIGN.md "Reading the MIS
// cheaply"): after a full read of an entity with a version column, the records whose
// content changed while their version did not, or "" to clear an earlier alert when
// there were none. Nil when there is nothing to write.
func (p *entityPoll) driftMeta(ctx context.Context) map[string]string {
	if p.es.Mode != "full" || !p.e.o.Reader.HasVersions(p.entity) {
		return nil
	}
	p.es.VersionDrift, p.es.DriftKeys = p.drift, p.driftKeys
	key := store.DriftKey(p.entity)
	if p.drift == 0 {
		if old, err := p.e.o.Store.GetMeta(ctx, key); err == nil && old == "" {
			return nil
		}
		return map[string]string{key: ""}
	}
	p.e.log.Error("version column misses changes: the MIS's modified column is not touched by every update; add a trigger that sets it, or drop the entity's versions statement",
		"entity", p.entity, "records", p.drift, "keys", p.driftKeys)
	b, _ := json.Marshal(store.Drift{Entity: p.entity, Count: p.drift, Keys: p.driftKeys, At: p.at})
	return map[string]string{key: string(b)}
}

// addUpserts adds changed records (snapshot and events), version-only moves (snapshot
// only) and backfills (events for the targets that need the full state) to c.
func (e *Engine) addUpserts(c *store.Change, entity string, at time.Time, changes, verOnly, backfills []pending, backfill []*Target) {
	c.Puts = slices.Grow(c.Puts, len(changes)+len(verOnly))
	c.Events = slices.Grow(c.Events, len(changes)*len(e.o.Targets)+len(backfills)*len(backfill))
	for _, p := range changes {
		c.Puts = append(c.Puts, store.Put{Key: p.key, Entry: store.Entry{FP: p.fp, Ver: p.ver, At: p.at, Sum: p.sum, HasSum: p.hasSum}, Data: p.data})
		e.enqueue(c, entity, p.key, connectors.OpUpsert, p.fp, at, p.data)
	}
	for _, p := range verOnly {
		c.Puts = append(c.Puts, store.Put{Key: p.key, Entry: store.Entry{FP: p.fp, Ver: p.ver, At: p.at, Sum: p.sum, HasSum: p.hasSum}})
	}
	for _, p := range backfills {
		e.enqueueTo(c, backfill, entity, p.key, connectors.OpUpsert, p.fp, at, p.data)
		if c.KeepData { // a new target may keep data the records table does not have yet
			c.Kept = append(c.Kept, store.Put{Key: p.key, Data: p.data})
		}
	}
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
