package mapping

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"medsync/mapping/convert"
)

// rowReader decodes one result row into a canonical record, collecting the first
// problem that skips the row and the warnings about dropped optional values.
type rowReader struct {
	s      *Source
	entity string
	ec     *entityConfig
	cols   []column
	byName map[string]int // column name -> contract index
	idx    []int          // contract index -> result column
	vals   []any
	dest   []any
	vpos   int             // result column of the row's version, -1 when none
	ver    versionScanner  // the row's version
	sum    checksumScanner // the row's checksum, when the statement returns one

	row      int
	key      string
	problem  string
	warnings []string
}

func newRowReader(s *Source, entity string, cols []column, idx []int, vpos, ncols int) *rowReader {
	r := &rowReader{s: s, entity: entity, ec: s.p.entity(entity), cols: cols, idx: idx,
		byName: make(map[string]int, len(cols)), vals: make([]any, len(cols)), dest: make([]any, ncols), vpos: vpos}
	for i, c := range cols {
		r.byName[c.name] = i
	}
	for i := range cols {
		r.dest[idx[i]] = &r.vals[i]
	}
	if vpos >= 0 {
		r.dest[vpos] = &r.ver
	}
	return r
}

// version is the row's version token, or 0 when the statement returns none.
func (r *rowReader) version() uint64 {
	if r.vpos < 0 {
		return 0
	}
	return r.ver.token
}

func (r *rowReader) reset(row int) {
	r.row, r.key, r.problem, r.warnings = row, "", "", r.warnings[:0]
}

func (r *rowReader) fail(col, format string, a ...any) {
	if r.problem == "" {
		r.problem = col + ": " + fmt.Sprintf(format, a...)
	}
}

func (r *rowReader) raw(name string) (column, any) {
	i, ok := r.byName[name]
	if !ok {
		panic("mapping: contract has no column " + r.entity + "." + name)
	}
	return r.cols[i], r.vals[i]
}

// rawText renders a raw driver value as text for keys, codes and numbers.
func rawText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	}
	return fmt.Sprint(v), true
}

func rawFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int:
		return float64(x), nil
	}
	s, _ := rawText(v)
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.Replace(s, ",", ".", 1)), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// key reads a key column: text or a whole number.
func (r *rowReader) keyCol(name string) string {
	col, v := r.raw(name)
	s, ok := rawText(v)
	s = strings.TrimSpace(s)
	if !ok || s == "" {
		if col.required {
			r.fail(name, "is empty")
		}
		return ""
	}
	return s
}

// text reads a text column through convert.Text (or StrictText for UTF-8 sources).
func (r *rowReader) text(name string) string {
	col, v := r.raw(name)
	if v == nil {
		if d, ok := r.ec.defaults[name]; ok {
			return d
		}
		if col.required {
			r.fail(name, "is empty")
		}
		return ""
	}
	switch v.(type) {
	case string, []byte:
	default:
		v, _ = rawText(v) // numbers in a text column (CODE, ROOM)
	}
	var (
		s   string
		err error
	)
	if r.s.opt.Charset == "cp1251" || r.s.opt.Charset == "windows1251" {
		s, err = convert.Text(v, col.maxLen)
	} else {
		s, err = convert.StrictText(v, col.maxLen)
	}
	if err != nil && !errors.Is(err, convert.ErrEmpty) {
		r.fail(name, "%v", err)
		return ""
	}
	s = strings.TrimSpace(s)
	if s == "" && col.required {
		r.fail(name, "is empty")
	}
	return s
}

func (r *rowReader) intCol(name string, def int) int {
	col, v := r.raw(name)
	if v == nil {
		if d, ok := r.ec.defaults[name]; ok {
			n, _ := strconv.Atoi(d)
			return n
		}
		if col.required {
			r.fail(name, "is empty")
		}
		return def
	}
	f, err := rawFloat(v)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
		r.fail(name, "%v is not a whole number", v)
		return def
	}
	return int(f)
}

func (r *rowReader) boolCol(name string) bool {
	_, v := r.raw(name)
	if v == nil {
		if d, ok := r.ec.defaults[name]; ok {
			b, _ := strconv.ParseBool(d)
			return b
		}
		return false
	}
	b, err := convert.Flag(v)
	if err != nil {
		r.fail(name, "%v", err)
		return false
	}
	if r.ec.converters[name] == "not_flag" {
		return !b
	}
	return b
}

func (r *rowReader) moneyCol(name string) int64 {
	_, v := r.raw(name)
	if v == nil {
		if d, ok := r.ec.defaults[name]; ok {
			k, _ := convert.Kopecks(d)
			return k
		}
		return 0
	}
	if r.ec.converters[name] == "kopecks" {
		f, err := rawFloat(v)
		if err != nil || f != math.Trunc(f) {
			r.fail(name, "%v is not a whole number of kopecks", v)
			return 0
		}
		return int64(f)
	}
	k, err := convert.Kopecks(v)
	if err != nil {
		r.fail(name, "%v", err)
		return 0
	}
	return k
}

// optionalMoney is moneyCol for a value that may be unknown: NULL (and no
// default.<column>) is nil, not 0.
func (r *rowReader) optionalMoney(name string) *int64 {
	if _, v := r.raw(name); v == nil {
		if _, ok := r.ec.defaults[name]; !ok {
			return nil
		}
	}
	k := r.moneyCol(name)
	return &k
}

// codeCol maps a code through the profile's map.<column>; values already canonical
// pass. Unknown codes skip the row when the column is required, else are dropped with
// a warning.
func (r *rowReader) codeCol(name, def string) string {
	col, v := r.raw(name)
	s, ok := rawText(v)
	s = strings.TrimSpace(s)
	if !ok || s == "" {
		if d, has := r.ec.defaults[name]; has {
			return d
		}
		if m, has := r.ec.maps[name]; has {
			if c, found := m[""]; found {
				return c
			}
		}
		if col.required {
			r.fail(name, "is empty")
		}
		return def
	}
	if m, has := r.ec.maps[name]; has {
		if c, found := m[s]; found {
			return c
		}
	}
	if codeAllowed(col, s) {
		return s
	}
	other := r.ec.mapDefaults[name]
	r.s.codes.add(r.entity, name, s, r.key, other)
	if other != "" {
		return other
	}
	if col.required {
		r.fail(name, "code %q is not in the profile's map.%s and is not one of %s (map.%s.* = <value> takes every code the map does not list)", s, name, strings.Join(col.codes, ", "), name)
		return ""
	}
	r.warnings = append(r.warnings, fmt.Sprintf("%s: code %q is not in the profile's map.%s; left empty", name, s, name))
	return def
}

// checked reads an optional contact or identifier column through a validating
// converter; an invalid value is dropped with a warning.
func (r *rowReader) checked(name string, conv func(string) (string, error)) string {
	s := r.text(name)
	if s == "" {
		return ""
	}
	out, err := conv(s)
	if err != nil {
		if errors.Is(err, convert.ErrEmpty) {
			return ""
		}
		r.warnings = append(r.warnings, fmt.Sprintf("%s: %q dropped: %v", name, s, err))
		return ""
	}
	return out
}

// dateCol reads a date column; ok is false when it is NULL (or the row failed).
func (r *rowReader) dateCol(name string) (convert.Date, bool) {
	col, v := r.raw(name)
	if v == nil {
		if col.required {
			r.fail(name, "is empty")
		}
		return convert.Date{}, false
	}
	d, err := decodeDate(v, r.ec.converters[name])
	if err != nil {
		r.fail(name, "%v", err)
		return convert.Date{}, false
	}
	return d, true
}

func decodeDate(v any, conv string) (convert.Date, error) {
	switch conv {
	case "ole_date":
		f, err := rawFloat(v)
		if err != nil {
			return convert.Date{}, err
		}
		return convert.OLEDate(f)
	case "yyyymmdd":
		f, err := rawFloat(v)
		if err != nil || f != math.Trunc(f) {
			return convert.Date{}, fmt.Errorf("%v is not a date written as YYYYMMDD", v)
		}
		n := int(f)
		d := convert.Date{Year: n / 10000, Month: time.Month(n / 100 % 100), Day: n % 100}
		if !d.Valid() {
			return convert.Date{}, fmt.Errorf("%d is not a date written as YYYYMMDD", n)
		}
		return d, nil
	}
	if t, ok := v.(time.Time); ok {
		return convert.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
	}
	s, _ := rawText(v)
	s = strings.TrimSpace(s)
	if len(s) > 10 {
		s = s[:10]
	}
	return convert.ParseDate(s)
}

// timeCol reads a time-of-day column as the duration since midnight.
func (r *rowReader) timeCol(name string) (time.Duration, bool) {
	col, v := r.raw(name)
	if v == nil {
		if col.required {
			r.fail(name, "is empty")
		}
		return 0, false
	}
	d, err := decodeTime(v, r.ec.converters[name])
	if err != nil {
		r.fail(name, "%v", err)
		return 0, false
	}
	return d, true
}

func decodeTime(v any, conv string) (time.Duration, error) {
	switch conv {
	case "day_fraction":
		f, err := rawFloat(v)
		if err != nil {
			return 0, err
		}
		return convert.DayFraction(f)
	case "minutes", "seconds":
		f, err := rawFloat(v)
		if err != nil {
			return 0, err
		}
		unit := time.Minute
		if conv == "seconds" {
			unit = time.Second
		}
		d := time.Duration(math.Round(f * float64(unit)))
		if d < 0 || d > 24*time.Hour {
			return 0, fmt.Errorf("%v %s is not a time of day", v, conv)
		}
		return d, nil
	}
	if t, ok := v.(time.Time); ok {
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
	}
	s, _ := rawText(v)
	return parseClock(strings.TrimSpace(s))
}

// parseClock parses "HH:MM", "HH:MM:SS" and "HH:MM:SS.fff"; "24:00" is the end of the
// day.
func parseClock(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a time of day (HH:MM or HH:MM:SS)", s)
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, bad
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 {
		return 0, bad
	}
	var sec float64
	if len(parts) == 3 {
		f, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || f < 0 || f >= 60 {
			return 0, bad
		}
		sec = f
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
	if d > 24*time.Hour {
		return 0, bad
	}
	return d, nil
}

// localTime builds a wall time on date d in loc.
func (r *rowReader) localTime(name string, d convert.Date, since time.Duration, loc *time.Location) time.Time {
	t, err := convert.LocalTime(d, since, loc)
	if err != nil {
		r.fail(name, "%v", err)
	}
	return t
}

// build decodes the current row into the entity's record.
func (r *rowReader) build(zones *zoneTable) Record {
	r.key = r.keyCol("id")
	if r.problem != "" {
		return nil
	}
	var rec Record
	switch r.entity {
	case EntityBranch:
		rec = r.branch()
	case EntitySpecialty:
		rec = &Specialty{ID: r.key, Name: r.text("name"), Code: r.text("code")}
	case EntityDoctor:
		rec = &Doctor{ID: r.key, BranchID: r.keyCol("branch_id"), SpecialtyID: r.keyCol("specialty_id"),
			LastName: r.text("last_name"), FirstName: r.text("first_name"), MiddleName: r.text("middle_name"),
			SNILS: r.checked("snils", convert.SNILS), OnlineBooking: r.boolCol("online_booking"),
			SlotMinutes: r.positive("slot_minutes", 30)}
	case EntityService:
		rec = &Service{ID: r.key, Name: r.text("name"), Code: r.text("code"), SpecialtyID: r.keyCol("specialty_id"),
			PriceKopecks: r.optionalMoney("price"), DurationMinutes: r.intCol("duration_minutes", 0),
			Mode: r.codeCol("mode", ModeClinic), PrepayKopecks: r.moneyCol("prepay"), OnlineBooking: r.boolCol("online_booking")}
	case EntityPatient:
		rec = r.patient()
	case EntityShift:
		rec = r.shift(zones)
	case EntityAppointment:
		rec = r.appointment(zones)
	}
	if r.problem != "" {
		return nil
	}
	return rec
}

func (r *rowReader) positive(name string, def int) int {
	n := r.intCol(name, def)
	if n <= 0 {
		if r.problem == "" {
			r.warnings = append(r.warnings, fmt.Sprintf("%s: %d is not a positive number of minutes; %d used", name, n, def))
		}
		return def
	}
	return n
}

func (r *rowReader) branch() Record {
	b := &Branch{ID: r.key, Name: r.text("name"), Address: r.text("address"),
		Phone: r.checked("phone", convert.Phone), MOOID: r.text("mo_oid")}
	tz := r.text("timezone")
	if tz == "" {
		b.TimeZone = r.s.opt.Zone.String()
		return b
	}
	if _, err := convert.LoadZone(tz); err != nil {
		r.fail("timezone", "%v", err)
		return nil
	}
	b.TimeZone = tz
	return b
}

func (r *rowReader) patient() Record {
	p := &Patient{ID: r.key, CardNumber: r.text("card_number"), LastName: r.text("last_name"),
		FirstName: r.text("first_name"), MiddleName: r.text("middle_name")}
	if d, ok := r.dateCol("birth_date"); ok {
		p.BirthDate = d.String()
	}
	p.Sex = r.codeCol("sex", "")
	p.Phone = r.checked("phone", convert.Phone)
	p.Email = r.checked("email", convert.Email)
	p.SNILS = r.checked("snils", convert.SNILS)
	p.OMS = r.checked("oms", convert.OMS)
	p.ConsentSMS = r.boolCol("consent_sms")
	p.ConsentEmail = r.boolCol("consent_email")
	p.Deleted = r.boolCol("deleted")
	return p
}

func (r *rowReader) shift(zones *zoneTable) Record {
	sh := &Shift{ID: r.key, DoctorID: r.keyCol("doctor_id"), BranchID: r.keyCol("branch_id"),
		Room: r.text("room"), SlotMinutes: r.positive("slot_minutes", 30)}
	day, _ := r.dateCol("date")
	start, _ := r.timeCol("start_time")
	end, _ := r.timeCol("end_time")
	bs, hasBS := r.timeCol("break_start")
	be, hasBE := r.timeCol("break_end")
	if r.problem != "" {
		return nil
	}
	loc, err := zones.zone(sh.BranchID, r.s.opt.Zone)
	if err != nil {
		r.fail("branch_id", "%v", err)
		return nil
	}
	if end <= start {
		r.fail("end_time", "shift ends (%s) before it starts (%s)", clock(end), clock(start))
		return nil
	}
	sh.Start = r.localTime("start_time", day, start, loc)
	sh.End = r.localTime("end_time", day, end, loc)
	switch {
	case hasBS != hasBE:
		r.warnings = append(r.warnings, "break_start/break_end: only one of them is set; the break is ignored")
	case hasBS && (be <= bs || bs < start || be > end):
		r.warnings = append(r.warnings, fmt.Sprintf("break %s–%s does not lie inside the shift %s–%s; the break is ignored", clock(bs), clock(be), clock(start), clock(end)))
	case hasBS:
		b1, b2 := r.localTime("break_start", day, bs, loc), r.localTime("break_end", day, be, loc)
		sh.BreakStart, sh.BreakEnd = &b1, &b2
	}
	return sh
}

func (r *rowReader) appointment(zones *zoneTable) Record {
	a := &Appointment{ID: r.key, PatientID: r.keyCol("patient_id"), DoctorID: r.keyCol("doctor_id"),
		BranchID: r.keyCol("branch_id")}
	day, _ := r.dateCol("date")
	start, _ := r.timeCol("start_time")
	end, _ := r.timeCol("end_time")
	a.Status = r.codeCol("status", "")
	a.Source = r.codeCol("source", SourceOther)
	a.CancelReason = r.text("cancel_reason")
	a.ServiceIDs = sortedList(r.text("service_ids"))
	a.Room = r.text("room")
	a.Comment = r.text("comment")
	a.ExternalID = r.text("external_id")
	if r.problem != "" {
		return nil
	}
	if end < start {
		r.fail("end_time", "appointment ends (%s) before it starts (%s)", clock(end), clock(start))
		return nil
	}
	loc, err := zones.zone(a.BranchID, r.s.opt.Zone)
	if err != nil {
		r.fail("branch_id", "%v", err)
		return nil
	}
	a.Start = r.localTime("start_time", day, start, loc)
	a.End = r.localTime("end_time", day, end, loc)
	if a.Status != StatusCancelled {
		a.CancelReason = ""
	}
	return a
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
