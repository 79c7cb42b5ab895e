package excel

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping/convert"
)

// field is one column of an employer's staff list.
type field int

const (
	fLast field = iota
	fFirst
	fMiddle
	fBirth
	fSex
	fPhone
	fPosition
	fDepartment
	fExamType
	fConditions
	fFactors
	nFields
)

// fieldKeys are the config names of the fields: org.<code>.col.<key> = <column letter>.
var fieldKeys = [nFields]string{
	"lastname", "firstname", "middlename", "birthdate", "sex", "phone",
	"position", "department", "exam_type", "conditions", "factors",
}

// fieldTitles are the Russian column titles registrars see in result workbooks.
var fieldTitles = [nFields]string{
	"Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Телефон",
	"Должность", "Подразделение", "Вид осмотра", "Условия труда", "Вредные факторы",
}

// requiredFields must be mapped to a column and filled in every row.
var requiredFields = []field{fLast, fFirst, fBirth}

// orgConfig is one employer organization whose staff lists arrive in an inbox folder.
type orgConfig struct {
	Code     string
	Name     string
	Inbox    string
	MISID    string
	Sheet    string // empty: the first sheet
	FirstRow int
	LastRow  int // 0: until the data ends
	Strict   bool
	Cols     [nFields]int    // 1-based column numbers; 0 = not in the file (or given by title)
	Titles   [nFields]string // header titles of the columns given by title instead of letter
}

// byTitle reports whether any column is given by its header title.
func (o *orgConfig) byTitle() bool {
	for _, t := range o.Titles {
		if t != "" {
			return true
		}
	}
	return false
}

// label names the organization for registrars: «name».
func (o *orgConfig) label() string { return "«" + o.Name + "»" }

// exportConfig is one scheduled export.
type exportConfig struct {
	Name     string // call_list or doctors_week
	Spec     string
	Schedule cron.Schedule
}

// config is the parsed connector section.
type config struct {
	Orgs        []*orgConfig
	Strict      bool
	Settle      time.Duration
	MaxRows     int
	MaxUnpacked int64         // bytes
	MaxEmpty    int           // consecutive empty rows that end a sheet
	Timeout     time.Duration // one file's import
	Patronymics convert.PatronymicTable
	Factors     *factorTable
	Zone        *time.Location
	ExportDir   string
	Exports     []*exportConfig
	KeepDays    int
}

// Exports the connector knows.
const (
	exportCallList    = "call_list"
	exportDoctorsWeek = "doctors_week"
)

var options = []connectors.Option{
	{Name: "organizations", Help: "comma-separated organization codes; each needs org.<code>.inbox and org.<code>.mis_id"},
	{Name: "org.*.inbox", Pattern: true, Help: "inbox folder for the organization's staff lists (.xlsx); done/ and failed/ are created beside the files", Writes: connectors.WriteDir},
	{Name: "org.*.mis_id", Pattern: true, Help: "the organization's id in the MIS (the profile's write.staff_* statements receive it as :org)"},
	{Name: "org.*.name", Pattern: true, Help: "display name for logs and result workbooks"},
	{Name: "org.*.sheet", Pattern: true, Help: "sheet name; default: the first sheet"},
	{Name: "org.*.first_row", Pattern: true, Help: "first data row (after the header); default 2"},
	{Name: "org.*.last_row", Pattern: true, Help: "last data row; default: until the data ends (trailing empty rows are ignored)"},
	{Name: "org.*.strict", Pattern: true, Help: "true: one invalid row refuses the whole file (overrides strict)"},
	{Name: "org.*.col.*", Pattern: true, Help: "column of a field, as a letter (B) or as its header title (Фамилия сотрудника, looked up in the row before first_row): lastname, firstname, middlename, birthdate, sex, phone, position, department, exam_type, conditions, factors; without any col.* the columns are A..K in that order"},
	{Name: "strict", Default: "false", Help: "true: one invalid row refuses the whole file"},
	{Name: "settle", Default: "5s", Help: "a file is imported once its size and time stayed the same for this long (Excel or a copy may still be writing it)"},
	{Name: "max_rows", Default: "100000", Help: "files with more data rows are refused"},
	{Name: "max_unpacked_mb", Default: "200", Help: "a workbook whose parts unpack to more megabytes is refused before it is read (zip bombs, sheets of a million formatted empty rows)"},
	{Name: "max_empty_rows", Default: "1000", Help: "this many empty rows in a row end the sheet (the rest is not read)"},
	{Name: "import_timeout", Default: "10m", Help: "longest time one file's import may take; imports run beside the poll, one file at a time"},
	{Name: "patronymic_table", Help: "endings of patronymics and the sex they mean, e.g. \"ович=M, евич=M, ич=M, оглы=M, овна=F, евна=F, ична=F, кызы=F\"; default: the built-in table"},
	{Name: "factors_file", Help: "text file with the harmful-factor codes accepted when the MIS profile has no write.staff_factors statement (one code per line, text after the code is a comment); default: the built-in list (приказ Минздрава № 29н)"},
	{Name: "timezone", Help: "IANA zone for 'today' and 'tomorrow' (contract end, exports); default: the server's zone"},
	{Name: "export.dir", Help: "output folder for scheduled exports; required when an export schedule is set", Writes: connectors.WriteDir},
	{Name: "export.call_list.schedule", Help: "cron expression (5 fields, e.g. \"0 18 * * *\") for tomorrow's call list per branch; empty: off"},
	{Name: "export.doctors_week.schedule", Help: "cron expression for the doctors' schedule of the coming week; empty: off"},
	{Name: "export.keep_days", Default: "30", Help: "exported workbooks older than this many days are deleted from export.dir (0: keep all)"},
}

func parseConfig(env connectors.Env, cfg *connectors.Values) (*config, error) {
	c := &config{}
	var err error
	if c.Strict, err = cfg.Bool("strict"); err != nil {
		return nil, err
	}
	if c.Settle, err = cfg.Duration("settle"); err != nil {
		return nil, err
	}
	if c.MaxRows, err = cfg.Int("max_rows", 1, 1048576); err != nil {
		return nil, err
	}
	mb, err := cfg.Int("max_unpacked_mb", 1, 4096)
	if err != nil {
		return nil, err
	}
	c.MaxUnpacked = int64(mb) << 20
	if c.MaxEmpty, err = cfg.Int("max_empty_rows", 10, 1048576); err != nil {
		return nil, err
	}
	if c.Timeout, err = cfg.Duration("import_timeout"); err != nil {
		return nil, err
	}
	if c.Timeout <= 0 {
		return nil, cfg.Error("import_timeout", "must be positive, e.g. 10m")
	}
	c.Patronymics = convert.DefaultPatronymicTable
	if s := cfg.String("patronymic_table"); s != "" {
		if c.Patronymics, err = convert.ParsePatronymicTable(s); err != nil {
			return nil, cfg.Error("patronymic_table", "%v", err)
		}
	}
	if f := cfg.String("factors_file"); f != "" {
		if c.Factors, err = loadFactorFile(resolve(env.BaseDir, f)); err != nil {
			return nil, cfg.Error("factors_file", "%v", err)
		}
	} else {
		c.Factors = defaultFactors()
	}
	c.Zone = time.Local
	if z := cfg.String("timezone"); z != "" {
		if c.Zone, err = time.LoadLocation(z); err != nil {
			return nil, cfg.Error("timezone", "%q is not an IANA zone such as Europe/Moscow", z)
		}
	}

	codes := map[string]bool{}
	for _, code := range cfg.List("organizations") {
		codes[code] = true
	}
	for _, k := range cfg.Keys("org.") {
		rest := strings.TrimPrefix(k, "org.")
		if i := strings.IndexByte(rest, '.'); i > 0 {
			codes[rest[:i]] = true
		}
	}
	sorted := make([]string, 0, len(codes))
	for code := range codes {
		sorted = append(sorted, code)
	}
	sort.Strings(sorted)
	for _, code := range sorted {
		o, err := parseOrg(env, cfg, code)
		if err != nil {
			return nil, err
		}
		c.Orgs = append(c.Orgs, o)
	}
	inboxes := map[string]string{}
	for _, o := range c.Orgs {
		if other, dup := inboxes[o.Inbox]; dup {
			return nil, cfg.Error("org."+o.Code+".inbox", "folder %s is already the inbox of organization %s; give each organization its own folder", o.Inbox, other)
		}
		inboxes[o.Inbox] = o.Code
	}

	c.ExportDir = cfg.String("export.dir")
	if c.ExportDir != "" {
		c.ExportDir = resolve(env.BaseDir, c.ExportDir)
	}
	if c.KeepDays, err = cfg.Int("export.keep_days", 0, 3650); err != nil {
		return nil, err
	}
	for _, name := range []string{exportCallList, exportDoctorsWeek} {
		key := "export." + name + ".schedule"
		spec := cfg.String(key)
		if spec == "" {
			continue
		}
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			return nil, cfg.Error(key, "%q is not a cron expression such as \"0 18 * * *\" (minute hour day month weekday): %v", spec, err)
		}
		if c.ExportDir == "" {
			return nil, cfg.Error("export.dir", "is required when %s is set", key)
		}
		c.Exports = append(c.Exports, &exportConfig{Name: name, Spec: spec, Schedule: sched})
	}
	return c, nil
}

func parseOrg(env connectors.Env, cfg *connectors.Values, code string) (*orgConfig, error) {
	if !validCode(code) {
		return nil, cfg.Error("organizations", "organization code %q may hold only latin letters, digits, '_' and '-'", code)
	}
	k := func(s string) string { return "org." + code + "." + s }
	o := &orgConfig{Code: code, Name: cfg.String(k("name")), Sheet: cfg.String(k("sheet"))}
	if o.Name == "" {
		o.Name = code
	}
	inbox, err := cfg.Required(k("inbox"))
	if err != nil {
		return nil, err
	}
	o.Inbox = resolve(env.BaseDir, inbox)
	if o.MISID, err = cfg.Required(k("mis_id")); err != nil {
		return nil, err
	}
	o.FirstRow = 2
	if cfg.String(k("first_row")) != "" {
		if o.FirstRow, err = cfg.Int(k("first_row"), 1, excelize.TotalRows); err != nil {
			return nil, err
		}
	}
	if cfg.String(k("last_row")) != "" {
		if o.LastRow, err = cfg.Int(k("last_row"), 0, excelize.TotalRows); err != nil {
			return nil, err
		}
		if o.LastRow != 0 && o.LastRow < o.FirstRow {
			return nil, cfg.Error(k("last_row"), "%d is before first_row %d", o.LastRow, o.FirstRow)
		}
	}
	o.Strict, err = cfg.Bool("strict")
	if err != nil {
		return nil, err
	}
	if cfg.String(k("strict")) != "" {
		if o.Strict, err = cfg.Bool(k("strict")); err != nil {
			return nil, err
		}
	}
	anyCol := false
	for f := field(0); f < nFields; f++ {
		key := k("col." + fieldKeys[f])
		v := strings.TrimSpace(cfg.String(key))
		if v == "" {
			continue
		}
		anyCol = true
		if isColumnLetter(v) {
			n, err := excelize.ColumnNameToNumber(strings.ToUpper(v))
			if err != nil {
				return nil, cfg.Error(key, "%q is not a column letter A..XFD", v)
			}
			o.Cols[f] = n
			continue
		}
		title := strings.Trim(v, "«»\"' ")
		if cellRef.MatchString(title) {
			return nil, cfg.Error(key, "%q looks like a cell, not a column: give the column letter (A) or the header title", v)
		}
		if foldTitle(title) == "" {
			return nil, cfg.Error(key, "%q is neither a column letter (A..XFD) nor a header title", v)
		}
		o.Titles[f] = title
	}
	if o.byTitle() && o.FirstRow < 2 {
		return nil, cfg.Error(k("first_row"), "is 1, but columns are given by header title: the header is the row before first_row")
	}
	for _, key := range cfg.Keys(k("col.")) {
		if name := strings.TrimPrefix(key, k("col.")); fieldIndex(name) < 0 {
			return nil, cfg.Error(key, "unknown field %q; known fields: %s", name, strings.Join(fieldKeys[:], ", "))
		}
	}
	if !anyCol {
		for f := field(0); f < nFields; f++ {
			o.Cols[f] = int(f) + 1
		}
	}
	for _, f := range requiredFields {
		if o.Cols[f] == 0 && o.Titles[f] == "" {
			return nil, cfg.Error(k("col."+fieldKeys[f]), "is required: the column of %s", fieldTitles[f])
		}
	}
	seen := map[int]field{}
	for f := field(0); f < nFields; f++ {
		if n := o.Cols[f]; n != 0 {
			if g, dup := seen[n]; dup {
				letter, _ := excelize.ColumnNumberToName(n)
				return nil, cfg.Error(k("col."+fieldKeys[f]), "column %s is already used for col.%s", letter, fieldKeys[g])
			}
			seen[n] = f
		}
	}
	return o, nil
}

var cellRef = regexp.MustCompile(`^[A-Za-z]{1,3}[0-9]+$`)

// isColumnLetter reports whether v looks like a column letter (1 to 3 latin letters).
func isColumnLetter(v string) bool {
	if len(v) == 0 || len(v) > 3 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func validCode(code string) bool {
	if code == "" {
		return false
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func fieldIndex(key string) field {
	for f := field(0); f < nFields; f++ {
		if fieldKeys[f] == key {
			return f
		}
	}
	return -1
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) || base == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

func colName(n int) string {
	s, err := excelize.ColumnNumberToName(n)
	if err != nil {
		return fmt.Sprintf("#%d", n)
	}
	return s
}

// ensureDir creates dir when missing.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create folder %s: %w (check the service account may write there)", dir, err)
	}
	return nil
}
