package mapping

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

//go:embed profiles
var embeddedProfiles embed.FS

// Profile is how medsync reads one kind of MIS: named SQL statements per dialect, and
// per entity the converters, code tables and defaults that turn the statements' columns
// into canonical records. See mapping/profiles/README.md for the layout.
type Profile struct {
	Name        string
	Description string
	// Origin is "embedded" for the profiles shipped in the binary, else the folder.
	Origin string

	entities map[string]*entityConfig
	stmts    map[string]map[string]ProfileStatement // dialect -> name -> statement
	frags    map[string]map[string]ProfileStatement // dialect -> name -> "-- fragment:" block
	extends  string                                 // profile.ini extends = …
}

// ProfileStatement is one named statement of a profile.
type ProfileStatement struct {
	Name    string // e.g. "appointment.rows", "write.booking"
	Dialect string
	File    string // file it was read from, e.g. "sqlite.sql"
	Line    int    // line of its "-- name:" header
	SQL     string
	// Profile is the profile it comes from when inherited through extends (File is
	// then "<profile>/<file>"); "" for the profile's own.
	Profile  string
	fragment bool // a "-- fragment: name" block, not a statement
	// View is the MEDSYNC_* view a statement of the shipped views profile reads: its
	// users have the view, not the profile's files, so errors name the view.
	View string
}

// Where says where a statement is, for errors: "common.sql line 53", or for the
// shipped views profile the view it reads ("view MEDSYNC_SHIFT").
func (s ProfileStatement) Where() string {
	if s.View != "" {
		return "view " + s.View
	}
	return fmt.Sprintf("%s line %d", s.File, s.Line)
}

// viewOf names the view a views-profile statement reads.
func viewOf(name string) string {
	entity, _, _ := strings.Cut(name, ".")
	if entity == EntitySlot {
		entity = EntityAppointment
	}
	return "MEDSYNC_" + strings.ToUpper(entity)
}

// entityConfig is one entity's section of profile.ini.
type entityConfig struct {
	converters map[string]string            // column -> converter name
	maps       map[string]map[string]string // column -> MIS value -> canonical value
	defaults   map[string]string            // column -> value used when NULL
	// mapDefaults: column -> canonical value for a code its map does not list
	// (map.<column>.* = value); without one such a code skips the row or drops the value.
	mapDefaults map[string]string
}

// ProfileNames lists the profiles shipped in the binary.
func ProfileNames() []string {
	entries, _ := fs.ReadDir(embeddedProfiles, "profiles")
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// LoadProfile loads a profile shipped in the binary by name ("demo", "views"), or a
// custom profile from a folder path. A value containing a path separator or a dot, or
// naming no shipped profile, is read as a folder ("./demo" reads a local folder even
// though a "demo" profile ships).
func LoadProfile(nameOrPath string) (*Profile, error) {
	if nameOrPath == "" {
		return nil, errors.New("no profile given: set [mis] profile to demo, views or the path of a profile folder")
	}
	if !strings.ContainsAny(nameOrPath, `/\.`) {
		if sub, err := fs.Sub(embeddedProfiles, "profiles/"+nameOrPath); err == nil {
			if _, err := fs.Stat(sub, "profile.ini"); err == nil {
				return loadProfileFS(sub, "embedded", nameOrPath)
			}
		}
	}
	st, err := os.Stat(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("profile %q: not a shipped profile (%s) and not a readable folder: %w",
			nameOrPath, strings.Join(ProfileNames(), ", "), err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("profile %q: is a file; give the folder that holds profile.ini and the .sql files", nameOrPath)
	}
	return loadProfileFS(os.DirFS(nameOrPath), nameOrPath, filepath.Base(nameOrPath))
}

// commonDialect names the files whose statements serve every dialect.
const commonDialect = "common"

// sqlFileRe matches "<dialect>.sql" and "<dialect>.<part>.sql".
var sqlFileRe = regexp.MustCompile(`^([a-z][a-z0-9]*)(\.[A-Za-z0-9_-]+)?\.sql$`)

func loadProfileFS(fsys fs.FS, origin, defaultName string) (*Profile, error) {
	p, err := readProfile(fsys, origin, defaultName, nil)
	if err != nil {
		return nil, err
	}

	if err := p.expandFragments(); err != nil {
		return nil, err
	}
	for dialect, m := range p.stmts {
		for name, s := range m {
			entity, kind, _ := strings.Cut(name, ".")
			if kind == "changed" {
				if _, ok := m[entity+".summary"]; !ok {
					return nil, fmt.Errorf("profile %s: %s line %d declares %s but not %s.summary for dialect %s: the changed rows explain the day summaries that moved",
						p.Name, s.File, s.Line, name, entity, dialect)
				}
			}
			if kind == "summary" {
				if _, ok := m[entity+".versions"]; !ok {
					return nil, fmt.Errorf("profile %s: %s line %d declares %s but not %s.versions for dialect %s: the days whose summary moved are scanned by versions",
						p.Name, s.File, s.Line, name, entity, dialect)
				}
			}
			if kind == "versions" && windowedEntity(entity) {
				if _, ok := m[entity+".by_keys"]; !ok {
					return nil, fmt.Errorf("profile %s: %s line %d declares %s but not %s.by_keys for dialect %s: a windowed entity with versions needs by_keys to fetch changed rows",
						p.Name, s.File, s.Line, name, entity, dialect)
				}
			}
		}
	}
	return p, nil
}

func (p *Profile) parseINI(data []byte, file string) error {
	// Inline comments are off: in "map.status = 0:booked, #:cancelled" a " #" or " ;"
	// is a MIS code, and cutting the line there silently dropped the rest of the map.
	// A comment goes on a line of its own.
	cfg, err := ini.LoadSources(ini.LoadOptions{
		Insensitive:         false,
		IgnoreInlineComment: true,
	}, data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	at := iniLines(data)
	def := cfg.Section(ini.DefaultSection)
	for _, k := range def.Keys() {
		switch k.Name() {
		case "name":
			if v := strings.TrimSpace(k.Value()); v != "" {
				p.Name = v
			}
		case "description":
			p.Description = strings.TrimSpace(k.Value())
		case "extends":
			p.extends = strings.TrimSpace(k.Value())
		default:
			return fmt.Errorf("%s: key %q at the top: only name, description and extends belong there; per-entity keys go in a section such as [appointment]", at.where(file, "", k.Name()), k.Name())
		}
	}
	for _, sec := range cfg.Sections() {
		entity := sec.Name()
		if entity == ini.DefaultSection {
			continue
		}
		cols, known := contractColumns(entity)
		if !known {
			if entity == EntitySlot {
				if len(sec.Keys()) > 0 {
					return fmt.Errorf("%s: [slot]: slots are derived from shifts and slot.busy; set slot_minutes in [shift] or [doctor]", file)
				}
				continue
			}
			return fmt.Errorf("%s: unknown section [%s]: sections name entities (%s)", file, entity, strings.Join(Entities, ", "))
		}
		ec := &entityConfig{converters: map[string]string{}, maps: map[string]map[string]string{}, defaults: map[string]string{}, mapDefaults: map[string]string{}}
		p.entities[entity] = ec
		for _, k := range sec.Keys() {
			if err := ec.parseKey(cols, entity, k.Name(), k.Value()); err != nil {
				return fmt.Errorf("%s: [%s] %s: %w", at.where(file, entity, k.Name()), entity, k.Name(), err)
			}
		}
	}
	return nil
}

// parseKey reads one convert.<column>, map.<column>, map.<column>.* or
// default.<column> key of an entity's section.
func (ec *entityConfig) parseKey(cols []column, entity, name, value string) error {
	what, colName, ok := strings.Cut(name, ".")
	if !ok {
		return errors.New("keys are convert.<column>, map.<column>, map.<column>.* or default.<column>")
	}
	otherwise := false
	if what == "map" {
		colName, otherwise = strings.CutSuffix(colName, ".*")
	}
	col, ok := findColumn(cols, colName)
	if !ok {
		return fmt.Errorf("unknown column %q; %s columns are: %s", colName, entity, columnNames(cols))
	}
	val := strings.TrimSpace(value)
	if what != "map" && (strings.Contains(val, " ;") || strings.Contains(val, " #")) {
		return fmt.Errorf("%q: a comment after a value is not allowed in profile.ini (it would become part of the value); put it on a line of its own", val)
	}
	switch {
	case what == "convert":
		if _, ok := converters[val]; !ok {
			return fmt.Errorf("unknown converter %q; converters are: %s", val, converterNames())
		}
		if !converterApplies(val, col.kind) {
			return fmt.Errorf("converter %s does not apply to %s, which is a %s column", val, colName, col.kind)
		}
		ec.converters[colName] = val
	case what == "map" && otherwise:
		if col.kind != kindCode {
			return fmt.Errorf("%s is a %s column; a default for unknown codes applies to code columns (%s)", colName, col.kind, "status, source, sex, mode")
		}
		if val == "" || !codeAllowed(col, val) {
			return fmt.Errorf("%q: the value for codes the map does not list must be one of %s", val, strings.Join(col.codes, ", "))
		}
		ec.mapDefaults[colName] = val
	case what == "map":
		m, err := parseCodeMap(val, col)
		if err != nil {
			return err
		}
		ec.maps[colName] = m
	case what == "default":
		if err := checkDefault(val, col); err != nil {
			return err
		}
		ec.defaults[colName] = val
	default:
		return fmt.Errorf("unknown key kind %q: use convert.%s, map.%s or default.%s", what, colName, colName, colName)
	}
	return nil
}

// iniKeyLines finds the line of each key of a profile.ini, for errors.
type iniKeyLines map[string]int // "section\x00key" -> line

func iniLines(data []byte) iniKeyLines {
	out := iniKeyLines{}
	sec := ""
	for i, line := range strings.Split(strings.TrimPrefix(string(data), "\uFEFF"), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "" || t[0] == ';' || t[0] == '#':
		case t[0] == '[' && strings.HasSuffix(t, "]"):
			sec = strings.TrimSpace(t[1 : len(t)-1])
		default:
			if k, _, ok := strings.Cut(t, "="); ok {
				key := sec + "\x00" + strings.TrimSpace(k)
				if _, seen := out[key]; !seen {
					out[key] = i + 1
				}
			}
		}
	}
	return out
}

// where is "file line N" for a key ("file" when the line is unknown).
func (l iniKeyLines) where(file, section, key string) string {
	if n, ok := l[section+"\x00"+key]; ok {
		return fmt.Sprintf("%s line %d", file, n)
	}
	return file
}

// parseCodeMap parses "0:booked, 1:completed, 2:no_show". An empty canonical value
// ("0:") means "unknown" and is allowed for optional columns. Codes may be any text
// without a comma or a colon, "#" and ";" included. An entry that is not
// <code>:<value> is an error, so a map cannot end early unnoticed.
func parseCodeMap(s string, col column) (map[string]string, error) {
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%q: write each entry as <MIS value>:<canonical value>, separated by commas", part)
		}
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if _, dup := m[from]; dup {
			return nil, fmt.Errorf("MIS value %q is mapped twice", from)
		}
		if col.kind == kindCode && !codeAllowed(col, to) {
			return nil, fmt.Errorf("%q: %s must map to one of %s", to, col.name, strings.Join(col.codes, ", "))
		}
		m[from] = to
	}
	if len(m) == 0 {
		return nil, errors.New("empty code table")
	}
	return m, nil
}

func codeAllowed(col column, v string) bool {
	if v == "" {
		return !col.required
	}
	for _, c := range col.codes {
		if c == v {
			return true
		}
	}
	return false
}

func checkDefault(v string, col column) error {
	switch col.kind {
	case kindInt:
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
	case kindBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not true/false/1/0", v)
		}
	case kindCode:
		if !codeAllowed(col, v) {
			return fmt.Errorf("%q: %s must be one of %s", v, col.name, strings.Join(col.codes, ", "))
		}
	case kindMoney:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%q is not an amount in rubles", v)
		}
	case kindKey, kindText, kindZone:
	default:
		return fmt.Errorf("%s has no default (it is a %s column)", col.name, col.kind)
	}
	return nil
}

var headerRe = regexp.MustCompile(`^\s*--\s*(name|fragment)\s*:\s*(\S+)\s*$`)
var fragmentNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
var stmtNameRe = regexp.MustCompile(`^([a-z_]+)\.([a-z_][a-z0-9_]*)$`)

// parseStatements splits a .sql file into "-- name: x" statements.
func parseStatements(data, dialect, file string) ([]ProfileStatement, error) {
	var (
		out  []ProfileStatement
		cur  *ProfileStatement
		body strings.Builder
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		sqlText := strings.TrimSpace(body.String())
		sqlText = strings.TrimSpace(strings.TrimRight(sqlText, "; \t\r\n"))
		if sqlText == "" {
			return fmt.Errorf("%s line %d: statement %s is empty", file, cur.Line, cur.Name)
		}
		cur.SQL = sqlText
		out = append(out, *cur)
		body.Reset()
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(strings.TrimPrefix(data, "\uFEFF")))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if m := headerRe.FindStringSubmatch(text); m != nil {
			if err := flush(); err != nil {
				return nil, err
			}
			if m[1] == "fragment" {
				if !fragmentNameRe.MatchString(m[2]) {
					return nil, fmt.Errorf("%s line %d: %w", file, line, errNoFragmentName)
				}
				cur = &ProfileStatement{Name: m[2], Dialect: dialect, File: file, Line: line, fragment: true}
				continue
			}
			if err := checkStatementName(m[2]); err != nil {
				return nil, fmt.Errorf("%s line %d: %w", file, line, err)
			}
			cur = &ProfileStatement{Name: m[2], Dialect: dialect, File: file, Line: line}
			continue
		}
		if cur == nil {
			t := strings.TrimSpace(text)
			if t != "" && !strings.HasPrefix(t, "--") {
				return nil, fmt.Errorf("%s line %d: SQL before the first \"-- name: <entity>.rows\" header", file, line)
			}
			continue
		}
		body.WriteString(text)
		body.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for _, s := range out {
		if prev, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("statement %s is defined twice for dialect %s: %s line %d and %s line %d; keep one",
				s.Name, dialect, file, prev, file, s.Line)
		}
		seen[s.Name] = s.Line
	}
	return out, nil
}

func checkStatementName(name string) error {
	m := stmtNameRe.FindStringSubmatch(name)
	if m == nil {
		return fmt.Errorf("statement name %q: use <entity>.rows, <entity>.versions, <entity>.by_keys, slot.busy, read.<name> or write.<name>", name)
	}
	entity, kind := m[1], m[2]
	if entity == "write" || entity == "read" {
		return nil // write.<name>: connectors' writes; read.<name>: named lookups (profile_query.go)
	}
	if entity == EntitySlot {
		if kind == "busy" || kind == "blocked" {
			return nil
		}
		return fmt.Errorf("statement %q: slots are derived from shift.rows and slot.busy; the slot statements are slot.busy and slot.blocked", name)
	}
	if _, ok := contract[entity]; !ok {
		return fmt.Errorf("statement %q: unknown entity %q (entities: %s)", name, entity, strings.Join(Entities, ", "))
	}
	switch kind {
	case "rows", "versions", "by_keys":
		return nil
	case "summary":
		return nil // per day for a windowed entity, for the whole table for another
	case "changed":
		if !windowedEntity(entity) {
			return fmt.Errorf("statement %q: only windowed entities (shift, appointment) have changed rows: they explain day summaries", name)
		}
		return nil
	}
	return fmt.Errorf("statement %q: unknown statement kind %q; use %s.rows, %s.versions, %s.by_keys, %s.summary or %s.changed", name, kind, entity, entity, entity, entity, entity)
}

// Statement returns the SQL of a named statement for a dialect.
func (p *Profile) Statement(dialect, name string) (string, bool) {
	s, ok := p.stmts[dialect][name]
	return s.SQL, ok
}

// statement returns the statement or an error saying the profile lacks it.
func (p *Profile) statement(dialect, name string) (ProfileStatement, error) {
	s, ok := p.stmts[dialect][name]
	if !ok {
		return s, fmt.Errorf("profile %s has no statement %s for dialect %s", p.Name, name, dialect)
	}
	return s, nil
}

// Statements lists a dialect's statements sorted by name (for `medsync check`).
func (p *Profile) Statements(dialect string) []ProfileStatement {
	out := make([]ProfileStatement, 0, len(p.stmts[dialect]))
	for _, s := range p.stmts[dialect] {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ProfileDialects lists the dialects the profile has statements for.
func (p *Profile) Dialects() []string {
	var out []string
	for d := range p.stmts {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// HasWrites reports whether the profile declares any write.* statement for a dialect.
func (p *Profile) HasWrites(dialect string) bool {
	for name := range p.stmts[dialect] {
		if strings.HasPrefix(name, "write.") {
			return true
		}
	}
	return false
}

func (p *Profile) entity(name string) *entityConfig {
	if ec := p.entities[name]; ec != nil {
		return ec
	}
	return &entityConfig{}
}

func windowedEntity(entity string) bool {
	return entity == EntityShift || entity == EntityAppointment || entity == EntitySlot
}

// embeddedFile is used by tests and README checks.
func embeddedFile(name string) ([]byte, error) {
	return fs.ReadFile(embeddedProfiles, path.Join("profiles", name))
}

// ExportProfile copies a shipped profile's files (profile.ini, the .sql files, its
// README) into dir, the starting point of a clinic's own profile: edit them and set
// [mis] profile to the folder. Files already in dir are never overwritten.
func ExportProfile(name, dir string) ([]string, error) {
	sub, err := fs.Sub(embeddedProfiles, "profiles/"+name)
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "profile.ini"); err != nil {
		return nil, fmt.Errorf("no shipped profile %q (shipped: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	var written []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := fs.ReadFile(sub, e.Name())
		if err != nil {
			return written, err
		}
		dst := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return written, fmt.Errorf("%s already exists: export into an empty folder", dst)
			}
			return written, err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, fmt.Errorf("writing %s: %w", dst, err)
		}
		written = append(written, dst)
	}
	return written, nil
}
