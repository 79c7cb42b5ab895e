package mapping

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// readProfile reads a profile's profile.ini and .sql files, applies common.sql to every
// dialect, and, when profile.ini says extends = <profile>, takes from that profile
// every statement, fragment and profile.ini key this one does not define itself.
// Fragments are not expanded yet: a profile may override a fragment its base's
// statements use. seen holds the profiles of the chain, to refuse a cycle.
func readProfile(fsys fs.FS, origin, defaultName string, seen []string) (*Profile, error) {
	where := func(file string) string {
		if origin == "embedded" {
			return "profile " + defaultName + ": " + file
		}
		return filepath.Join(origin, file)
	}
	iniData, err := fs.ReadFile(fsys, "profile.ini")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where("profile.ini"), err)
	}
	p := &Profile{Name: defaultName, Origin: origin, entities: map[string]*entityConfig{},
		stmts: map[string]map[string]ProfileStatement{}, frags: map[string]map[string]ProfileStatement{}}
	if err := p.parseINI(iniData, where("profile.ini")); err != nil {
		return nil, err
	}
	if err := p.readSQLFiles(fsys, where); err != nil {
		return nil, err
	}
	if origin == "embedded" && defaultName == "views" {
		for _, m := range p.stmts {
			for name, st := range m {
				st.View = viewOf(name)
				m[name] = st
			}
		}
	}
	if p.extends == "" {
		return p, nil
	}
	id := origin + "|" + defaultName
	if origin == "embedded" {
		id = "embedded|" + defaultName
	}
	if len(seen) > 8 || contains(seen, id) {
		return nil, fmt.Errorf("%s: extends = %s: profiles extend each other in a circle (%s)", where("profile.ini"), p.extends, strings.Join(append(seen, id), " → "))
	}
	base, err := readBase(p.extends, origin, append(seen, id))
	if err != nil {
		return nil, fmt.Errorf("%s: extends = %s: %w", where("profile.ini"), p.extends, err)
	}
	p.inherit(base)
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readBase reads the profile an extends = names: a shipped profile (demo, views) or a
// folder, relative to the extending profile's folder.
func readBase(name, origin string, seen []string) (*Profile, error) {
	if !strings.ContainsAny(name, `/\.`) {
		if sub, err := fs.Sub(embeddedProfiles, "profiles/"+name); err == nil {
			if _, err := fs.Stat(sub, "profile.ini"); err == nil {
				return readProfile(sub, "embedded", name, seen)
			}
		}
	}
	dir := name
	if !filepath.IsAbs(dir) && origin != "embedded" {
		dir = filepath.Join(origin, dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("neither a shipped profile (%s) nor a profile folder (looked for %s)", strings.Join(ProfileNames(), ", "), dir)
	}
	return readProfile(os.DirFS(dir), dir, filepath.Base(dir), seen)
}

// readSQLFiles reads every <dialect>[.<part>].sql file into statements and fragments,
// then lets common.sql's serve every dialect that lacks them.
func (p *Profile) readSQLFiles(fsys fs.FS, where func(string) string) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("%s: %w", where(""), err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && sqlFileRe.MatchString(e.Name()) {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return fmt.Errorf("%s: %w", where(f), err)
		}
		dialect := sqlFileRe.FindStringSubmatch(f)[1]
		stmts, err := parseStatements(string(data), dialect, f)
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.Name, err)
		}
		for _, s := range stmts {
			set, what := p.stmts, "statement"
			if s.fragment {
				set, what = p.frags, "fragment"
			}
			if set[dialect] == nil {
				set[dialect] = map[string]ProfileStatement{}
			}
			if prev, dup := set[dialect][s.Name]; dup {
				return fmt.Errorf("profile %s: %s %s is defined twice for dialect %s: %s line %d and %s line %d; keep one",
					p.Name, what, s.Name, dialect, prev.File, prev.Line, s.File, s.Line)
			}
			set[dialect][s.Name] = s
		}
	}
	// Statements written once for every dialect (common.sql, common.<part>.sql) apply
	// wherever a dialect's own files do not define the same name.
	for _, set := range []map[string]map[string]ProfileStatement{p.stmts, p.frags} {
		common, ok := set[commonDialect]
		if !ok {
			continue
		}
		delete(set, commonDialect)
		for _, d := range Dialects {
			if set[d] == nil {
				set[d] = map[string]ProfileStatement{}
			}
			for name, st := range common {
				if _, own := set[d][name]; !own {
					st.Dialect = d
					set[d][name] = st
				}
			}
		}
	}
	return nil
}

// inherit fills in from base what p does not define: statements and fragments per
// dialect (p's common.sql counts as defining them), entity sections per key.
func (p *Profile) inherit(base *Profile) {
	for _, pair := range [][2]map[string]map[string]ProfileStatement{{p.stmts, base.stmts}, {p.frags, base.frags}} {
		own, from := pair[0], pair[1]
		for d, m := range from {
			if own[d] == nil {
				own[d] = map[string]ProfileStatement{}
			}
			for name, st := range m {
				if _, ok := own[d][name]; !ok {
					if !strings.Contains(st.File, "/") {
						st.File = base.Name + "/" + st.File
					}
					st.Profile = base.Name
					own[d][name] = st
				}
			}
		}
	}
	for entity, bec := range base.entities {
		ec := p.entities[entity]
		if ec == nil {
			p.entities[entity] = bec
			continue
		}
		inheritKeys(ec.converters, bec.converters)
		inheritKeys(ec.defaults, bec.defaults)
		inheritKeys(ec.mapDefaults, bec.mapDefaults)
		for col, m := range bec.maps {
			if _, ok := ec.maps[col]; !ok {
				ec.maps[col] = m
			}
		}
	}
}

func inheritKeys(own, from map[string]string) {
	for k, v := range from {
		if _, ok := own[k]; !ok {
			own[k] = v
		}
	}
}

// fragmentRe finds {{name}} in a statement.
var fragmentRe = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// expandFragments replaces every {{name}} in the statements with the dialect's
// "-- fragment: name" block, fragments inside fragments included.
func (p *Profile) expandFragments() error {
	for d, m := range p.stmts {
		for name, st := range m {
			if !strings.Contains(st.SQL, "{{") {
				continue
			}
			sqlText, err := p.expand(d, st.SQL, nil)
			if err != nil {
				return fmt.Errorf("profile %s: %s line %d: statement %s: %w", p.Name, st.File, st.Line, name, err)
			}
			st.SQL = sqlText
			m[name] = st
		}
	}
	return nil
}

func (p *Profile) expand(dialect, text string, chain []string) (string, error) {
	var firstErr error
	out := fragmentRe.ReplaceAllStringFunc(text, func(ref string) string {
		name := fragmentRe.FindStringSubmatch(ref)[1]
		if firstErr != nil {
			return ref
		}
		if contains(chain, name) {
			firstErr = fmt.Errorf("fragment %s includes itself (%s)", name, strings.Join(append(chain, name), " → "))
			return ref
		}
		f, ok := p.frags[dialect][name]
		if !ok {
			firstErr = fmt.Errorf("{{%s}}: no fragment %s for dialect %s; define it with a \"-- fragment: %s\" block in common.sql or %s.sql", name, name, dialect, name, dialect)
			return ref
		}
		body, err := p.expand(dialect, f.SQL, append(chain, name))
		if err != nil {
			firstErr = err
			return ref
		}
		return body
	})
	return out, firstErr
}

var errNoFragmentName = errors.New("fragment name: use letters, digits and _ (e.g. -- fragment: shift_days)")
