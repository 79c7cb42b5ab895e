package mapping

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"medsync/mapping/convert"
)

// SourceOptions tune a Source.
type SourceOptions struct {
	// Zone is the service zone: the zone of the poll window's midnights and of every
	// branch whose timezone column is NULL. Default: time.Local.
	Zone *time.Location
	// QueryTimeout bounds each statement, including streaming its rows. 0: no limit
	// beyond the caller's context.
	QueryTimeout time.Duration
	// Charset of the MIS text: "utf-8" (default; a value that is not valid UTF-8 skips
	// its row) or "cp1251" (text that is not valid UTF-8 is decoded as Windows-1251).
	Charset string
	// Now is the clock slots are cut at (no slots in the past). Default: time.Now.
	Now func() time.Time
	// Logger receives one line per dropped optional value when Warn is nil, and one line
	// per skipped row when a read's skip callback is nil. Default: slog.Default().
	Logger *slog.Logger
	// Warn, when set, receives optional values that were dropped from a record that was
	// otherwise kept (an invalid phone, e-mail, СНИЛС, ОМС or sex code).
	Warn func(Skip)
	// OnRows, when set, is told how many more rows of an entity a version scan or a
	// full read has streamed, every couple of thousand rows and at the end (progress
	// of a long first poll). It must be quick and safe for concurrent use.
	OnRows func(entity string, n int)
	// DuplicatesChecked says the caller recognises a key that a read returns twice
	// itself (the engine's differ does, against its snapshot): reads then keep no set
	// of the keys they returned — 16 MB for a million rows.
	DuplicatesChecked bool
}

// Source reads canonical records from a MIS database through a profile. It implements
// Reader. A Source is safe for concurrent use.
type Source struct {
	db      *sql.DB
	dialect string
	p       *Profile
	opt     SourceOptions
	codes   *codeCounts
}

var _ Reader = (*Source)(nil)

// NewSource returns a Reader over db (opened with OpenDB) using the statements of
// profile p for dialect.
func NewSource(db *sql.DB, dialect string, p *Profile, opt SourceOptions) *Source {
	if opt.Zone == nil {
		opt.Zone = time.Local
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	opt.Charset = strings.ToLower(strings.ReplaceAll(opt.Charset, "-", ""))
	return &Source{db: db, dialect: dialect, p: p, opt: opt, codes: &codeCounts{}}
}

// Windowed reports whether entity is read inside the poll window (shifts,
// appointments, slots).
func (s *Source) Windowed(entity string) bool { return windowedEntity(entity) }

// Has reports whether the profile can read entity in this dialect: <entity>.rows, or
// for slots shift.rows and slot.busy. The engine polls only entities a profile has.
func (s *Source) Has(entity string) bool {
	st := s.p.stmts[s.dialect]
	if entity == EntitySlot {
		_, a := st[EntityShift+".rows"]
		_, b := st["slot.busy"]
		return a && b
	}
	_, ok := st[entity+".rows"]
	return ok
}

// rowVersionRe finds the "AS version" alias of a rows statement that reads the
// version in the same query.
var rowVersionRe = regexp.MustCompile(`(?i)\bas\s+"?version"?\b`)

// RowVersions reports whether <entity>.rows returns the row's version itself (a column
// aliased AS version), so that a full read needs no separate version scan.
func (s *Source) RowVersions(entity string) bool {
	st, ok := s.p.stmts[s.dialect][entity+".rows"]
	return ok && s.HasVersions(entity) && rowVersionRe.MatchString(st.SQL)
}

// HasVersions reports whether the profile declares <entity>.versions for the dialect.
func (s *Source) HasVersions(entity string) bool {
	_, ok := s.p.stmts[s.dialect][entity+".versions"]
	return ok
}

// windowParams are the named parameters every read statement may use.
func (s *Source) windowParams(w Window) map[string]any { return WindowParams(s.opt.Zone, w) }

// WindowParams are the named parameters every read statement may use, for the window
// w read in the MIS zone.
func WindowParams(zone *time.Location, w Window) map[string]any {
	from, to := w.From.In(zone), w.To.In(zone)
	fd, td := convert.FromTime(from), convert.FromTime(to)
	return map[string]any{
		"from":      from,
		"to":        to,
		"from_date": fd.String(),
		"to_date":   td.String(),
		"from_ole":  convert.ToOLE(fd),
		"to_ole":    convert.ToOLE(td),
	}
}

// SinceParams are WindowParams with the moment since which <entity>.changed returns
// rows: :since (a timestamp in the MIS zone), :since_ole (an OLE date-time) and
// :since_text ('YYYY-MM-DD HH:MM:SS').
func SinceParams(zone *time.Location, w Window, since time.Time) map[string]any {
	p := WindowParams(zone, w)
	at := since.In(zone).Truncate(time.Second)
	p["since"] = at
	p["since_ole"] = convert.ToOLEDateTime(at)
	p["since_text"] = at.Format("2006-01-02 15:04:05")
	return p
}

// query renders and runs a statement; the caller closes the rows and calls cancel.
func (s *Source) query(ctx context.Context, st ProfileStatement, params map[string]any) (*sql.Rows, context.CancelFunc, error) {
	q, args, err := RenderSQL(s.dialect, st.SQL, params)
	if err != nil {
		return nil, nil, fmt.Errorf("profile %s: %s (%s): %w", s.p.Name, st.Name, st.Where(), err)
	}
	cancel := context.CancelFunc(func() {})
	if s.opt.QueryTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.opt.QueryTimeout)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		cancel()
		return nil, nil, s.stmtErr(st, err)
	}
	return rows, cancel, nil
}

func (s *Source) stmtErr(st ProfileStatement, err error) error {
	hint := ""
	if errors.Is(err, context.DeadlineExceeded) && s.opt.QueryTimeout > 0 {
		hint = fmt.Sprintf(" (the query timeout is %s: check the indexes the statement's WHERE needs, or raise it)", s.opt.QueryTimeout)
	}
	return fmt.Errorf("profile %s: %s (%s, dialect %s): %w%s", s.p.Name, st.Name, st.Where(), s.dialect, err, hint)
}

// columnIndex maps the contract's columns to the result's columns. A column the
// contract does not have, or a contract column the result lacks, is an error.
func (s *Source) columnIndex(st ProfileStatement, rows *sql.Rows, cols []column) ([]int, error) {
	idx, _, _, _, err := s.columnIndexVersion(st, rows, cols, false)
	return idx, err
}

// columnIndexVersion is columnIndex that, when allowVersion, also accepts a column
// named "version" (the row's version, returned by rows and by_keys statements of
// profiles that read it in the same query) and one named "checksum" (the row's
// summand in its bucket's summary, see summary.go). It returns their positions (-1
// when absent) and the number of result columns.
func (s *Source) columnIndexVersion(st ProfileStatement, rows *sql.Rows, cols []column, allowVersion bool) (idx []int, vpos, cpos, ncols int, err error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, -1, -1, 0, s.stmtErr(st, err)
	}
	vpos, cpos = -1, -1
	if allowVersion {
		for j, n := range names {
			switch strings.ToLower(strings.TrimSpace(n)) {
			case "version":
				vpos = j
			case "checksum":
				cpos = j
			}
		}
	}
	idx, err = s.matchColumns(st, names, cols, vpos, cpos)
	return idx, vpos, cpos, len(names), err
}

func (s *Source) matchColumns(st ProfileStatement, names []string, cols []column, skip ...int) ([]int, error) {
	idx := make([]int, len(cols))
	for i := range idx {
		idx[i] = -1
	}
	entity, _, _ := strings.Cut(st.Name, ".")
	for j, n := range names {
		if slices.Contains(skip, j) {
			continue
		}
		ln := strings.ToLower(strings.TrimSpace(n))
		found := false
		for i, c := range cols {
			if c.name == ln {
				if idx[i] >= 0 {
					return nil, fmt.Errorf("profile %s: %s (%s): column %q is returned twice", s.p.Name, st.Name, st.Where(), n)
				}
				idx[i] = j
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("profile %s: %s (%s): returns column %q, which the %s contract does not have (expected: %s); alias the MIS columns to the canonical names",
				s.p.Name, st.Name, st.Where(), n, entity, columnNames(cols))
		}
	}
	for i, c := range cols {
		if idx[i] < 0 {
			return nil, fmt.Errorf("profile %s: %s (%s): does not return column %q (expected: %s); add it, as NULL if the MIS has no such value",
				s.p.Name, st.Name, st.Where(), c.name, columnNames(cols))
		}
	}
	return idx, nil
}

// ScanVersions streams (key, version) pairs from <entity>.versions. It does not
// de-duplicate keys; rows whose key is NULL are left out (the full read reports them).
func (s *Source) ScanVersions(ctx context.Context, entity string, w Window, fn func(key []byte, version uint64) error) error {
	rc := s.rowCounter(entity)
	defer rc.flush()
	fn = rc.countVersions(fn)
	return s.scanVersions(ctx, entity, w, func(key []byte, version uint64, _ uint32, _ bool) error { return fn(key, version) })
}

// scanVersions runs <entity>.versions, with the row's checksum when the statement
// returns one (ok is false when it does not, or when the value is NULL).
func (s *Source) scanVersions(ctx context.Context, entity string, w Window, fn func(key []byte, version uint64, checksum uint32, ok bool) error) error {
	st, err := s.p.statement(s.dialect, entity+".versions")
	if err != nil {
		return err
	}
	rows, cancel, err := s.query(ctx, st, s.windowParams(w))
	if err != nil {
		return err
	}
	defer cancel()
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return s.stmtErr(st, err)
	}
	cpos := -1
	for j, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), "checksum") {
			cpos = j
		}
	}
	idx, err := s.matchColumns(st, names, versionsContract, cpos)
	if err != nil {
		return err
	}
	var key sql.RawBytes
	var ver versionScanner
	var sum checksumScanner
	dest := make([]any, len(names))
	dest[idx[0]], dest[idx[1]] = &key, &ver
	if cpos >= 0 {
		dest[cpos] = &sum
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return s.stmtErr(st, err)
		}
		if key == nil {
			continue // a row without a key: the full read reports it
		}
		if err := fn(key, ver.token, sum.value, sum.ok); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.stmtErr(st, err)
	}
	return nil
}

// ReadAll streams full records of entity from <entity>.rows (inside w when windowed).
// For "slot" it derives slots from shift.rows and slot.busy.
func (s *Source) ReadAll(ctx context.Context, entity string, w Window, fn func(Item) error, skip func(Skip)) error {
	rc := s.rowCounter(entity)
	defer rc.flush()
	fn = rc.countItems(fn)
	if entity == EntitySlot {
		return s.readSlots(ctx, w, fn, skip)
	}
	st, err := s.p.statement(s.dialect, entity+".rows")
	if err != nil {
		return err
	}
	return s.read(ctx, entity, st, s.windowParams(w), nil, fn, s.skipper(skip))
}

// ReadKeys streams full records for keys from <entity>.by_keys, KeysChunk keys per
// query. An entity that is not windowed and has no by_keys is read with <entity>.rows
// and filtered. Slots have no MIS key: ReadKeys("slot") returns nothing, and a slot
// that vanished counts as deleted only when the shift read it came from succeeded.
func (s *Source) ReadKeys(ctx context.Context, entity string, keys []string, fn func(Item) error, skip func(Skip)) error {
	if entity == EntitySlot || len(keys) == 0 {
		return nil
	}
	sk := s.skipper(skip)
	st, err := s.p.statement(s.dialect, entity+".by_keys")
	if err != nil {
		if windowedEntity(entity) {
			return err
		}
		rowsSt, err2 := s.p.statement(s.dialect, entity+".rows")
		if err2 != nil {
			return err2
		}
		want := make(map[string]bool, len(keys))
		for _, k := range keys {
			want[k] = true
		}
		return s.read(ctx, entity, rowsSt, s.windowParams(Window{}), want, fn, sk)
	}
	seen := s.keySet()
	zones, err := s.zonesFor(ctx, entity) // once, not per chunk
	if err != nil {
		return err
	}
	for start := 0; start < len(keys); start += KeysChunk {
		chunk := keys[start:min(start+KeysChunk, len(keys))]
		params := s.windowParams(Window{})
		params["keys"] = chunk
		if err := s.readSeen(ctx, entity, st, params, nil, seen, zones, fn, sk); err != nil {
			return err
		}
	}
	return nil
}

// zonesFor is the branches' time zones when entity's records need them (shifts and
// appointments), else nil.
func (s *Source) zonesFor(ctx context.Context, entity string) (*zoneTable, error) {
	if entity != EntityShift && entity != EntityAppointment {
		return nil, nil
	}
	return s.branchZones(ctx)
}

func (s *Source) skipper(skip func(Skip)) func(Skip) {
	if skip != nil {
		return skip
	}
	return func(sk Skip) {
		s.opt.Logger.Warn("mis row skipped", "profile", s.p.Name, "entity", sk.Entity, "key", sk.Key, "row", sk.Row, "problem", sk.Problem)
	}
}

func (s *Source) warn(sk Skip) {
	if s.opt.Warn != nil {
		s.opt.Warn(sk)
		return
	}
	s.opt.Logger.Warn("mis value dropped", "profile", s.p.Name, "entity", sk.Entity, "key", sk.Key, "row", sk.Row, "problem", sk.Problem)
}

func (s *Source) read(ctx context.Context, entity string, st ProfileStatement, params map[string]any, only map[string]bool, fn func(Item) error, skip func(Skip)) error {
	zones, err := s.zonesFor(ctx, entity)
	if err != nil {
		return err
	}
	return s.readSeen(ctx, entity, st, params, only, s.keySet(), zones, fn, skip)
}

// readSeen runs one full-row statement; seen holds the keys already emitted (a second
// row with the same key is skipped), zones the branches' time zones (zonesFor).
func (s *Source) readSeen(ctx context.Context, entity string, st ProfileStatement, params map[string]any, only map[string]bool, seen *keySet, zones *zoneTable, fn func(Item) error, skip func(Skip)) error {
	cols, ok := contractColumns(entity)
	if !ok {
		return fmt.Errorf("profile %s: unknown entity %q", s.p.Name, entity)
	}
	rows, cancel, err := s.query(ctx, st, params)
	if err != nil {
		return err
	}
	defer cancel()
	defer rows.Close()
	idx, vpos, cpos, ncols, err := s.columnIndexVersion(st, rows, cols, true)
	if err != nil {
		return err
	}
	if vpos < 0 && st.Name == entity+".rows" && s.RowVersions(entity) {
		return fmt.Errorf("profile %s: %s (%s): has an \"AS version\" alias but returns no column named version", s.p.Name, st.Name, st.Where())
	}
	rr := newRowReader(s, entity, cols, idx, vpos, ncols)
	if cpos >= 0 {
		rr.dest[cpos] = &rr.sum
	}
	n := 0
	for rows.Next() {
		n++
		if err := rows.Scan(rr.dest...); err != nil {
			return s.stmtErr(st, err)
		}
		rr.reset(n)
		rec := rr.build(zones)
		if rr.problem != "" {
			if only != nil && rr.key != "" && !only[rr.key] {
				continue // a row not asked for (a by-key read through <entity>.rows)
			}
			// The row exists: the skip carries its key, so that the engine counts it
			// as present on every read path (full, by key) and never deletes it.
			skip(Skip{Entity: entity, Key: rr.key, Row: n, Problem: rr.problem})
			continue
		}
		key := rec.RecordKey()
		if only != nil && !only[key] {
			continue
		}
		if seen != nil && !seen.add(key) {
			skip(Skip{Entity: entity, Key: key, Row: n, Problem: "duplicate key: the statement returned this key more than once; the first row is used"})
			continue
		}
		for _, w := range rr.warnings {
			s.warn(Skip{Entity: entity, Key: key, Row: n, Problem: w})
		}
		if err := fn(Item{Record: rec, Version: rr.version(), Checksum: rr.sum.value, HasChecksum: cpos >= 0 && rr.sum.ok}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.stmtErr(st, err)
	}
	return nil
}

// zoneTable gives each branch's zone; branches whose zone could not be read are
// listed in bad.
type zoneTable struct {
	zones map[string]*time.Location
	bad   map[string]string
}

// branchZones reads branch.rows (a small statement) to learn each branch's zone. A
// profile without branch.rows puts every branch in the service zone.
func (s *Source) branchZones(ctx context.Context) (*zoneTable, error) {
	zt := &zoneTable{zones: map[string]*time.Location{}, bad: map[string]string{}}
	st, ok := s.p.stmts[s.dialect][EntityBranch+".rows"]
	if !ok {
		return zt, nil
	}
	err := s.read(ctx, EntityBranch, st, s.windowParams(Window{}), nil, func(it Item) error {
		b := it.Record.(*Branch)
		if b.TimeZone == s.opt.Zone.String() {
			zt.zones[b.ID] = s.opt.Zone
			return nil
		}
		loc, err := convert.LoadZone(b.TimeZone)
		if err != nil {
			zt.bad[b.ID] = err.Error()
			return nil
		}
		zt.zones[b.ID] = loc
		return nil
	}, func(sk Skip) {
		if sk.Key != "" {
			zt.bad[sk.Key] = sk.Problem
		}
	})
	if err != nil {
		return nil, err
	}
	return zt, nil
}

func (z *zoneTable) zone(branchID string, def *time.Location) (*time.Location, error) {
	if z == nil {
		return def, nil
	}
	if loc, ok := z.zones[branchID]; ok {
		return loc, nil
	}
	if p, bad := z.bad[branchID]; bad {
		return nil, fmt.Errorf("branch %s could not be read (%s), so its local times have no zone", branchID, p)
	}
	return def, nil
}

// sortedList splits a comma-separated list, dropping blanks, sorted for a stable
// fingerprint.
func sortedList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := strconv.ParseInt(out[i], 10, 64)
		b, errB := strconv.ParseInt(out[j], 10, 64)
		if errA == nil && errB == nil {
			return a < b
		}
		return out[i] < out[j]
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// keySet remembers the keys of one read compactly — a 64-bit hash per key in an
// open-addressing table of its own (no pointers, 16 bytes a key: 16 MB for a million
// rows) instead of the keys — with a seed of its own per read, so that a (vanishingly
// rare) hash collision never repeats from one poll to the next.
type keySet struct {
	seed  maphash.Seed
	slots []uint64 // 0 is empty; a hash of 0 is kept as 1
	n     int
}

// keySet is the set of keys of one read, or nil when the caller checks duplicates.
func (s *Source) keySet() *keySet {
	if s.opt.DuplicatesChecked {
		return nil
	}
	return newKeySet()
}

func newKeySet() *keySet { return &keySet{seed: maphash.MakeSeed(), slots: make([]uint64, 1024)} }

// add records key and reports whether it was new.
func (k *keySet) add(key string) bool {
	h := maphash.String(k.seed, key) | 1 // never 0; the low bit carries no information here
	if k.insert(h) {
		k.n++
		if 2*k.n > len(k.slots) {
			old := k.slots
			k.slots = make([]uint64, 2*len(old))
			for _, x := range old {
				if x != 0 {
					k.insert(x)
				}
			}
		}
		return true
	}
	return false
}

// insert puts h into the table; false when it is there already.
func (k *keySet) insert(h uint64) bool {
	mask := uint64(len(k.slots) - 1)
	for i := (h >> 1) & mask; ; i = (i + 1) & mask {
		switch k.slots[i] {
		case 0:
			k.slots[i] = h
			return true
		case h:
			return false
		}
	}
}
