package mapping

import (
	"sort"
	"strings"
)

// colKind is the canonical kind of a contract column: what a `views` profile returns
// and what a converter must produce.
type colKind int

const (
	kindText  colKind = iota // text (varchar, nvarchar, text)
	kindKey                  // a record key or a reference to one: text or integer
	kindInt                  // integer
	kindBool                 // boolean: 0/1, true/false
	kindDate                 // calendar date: DATE or 'YYYY-MM-DD'
	kindTime                 // time of day: TIME or 'HH:MM[:SS]'
	kindMoney                // rubles: NUMERIC(12,2)
	kindCode                 // a code from a fixed list (status, source, sex, mode)
	kindPhone                // phone number as typed; normalised to +7XXXXXXXXXX
	kindEmail                // e-mail address
	kindSNILS                // СНИЛС
	kindOMS                  // ОМС policy number
	kindZone                 // IANA time zone name
	kindList                 // comma-separated keys
)

func (k colKind) String() string {
	return [...]string{"text", "key", "integer", "boolean", "date", "time of day", "money (rubles)",
		"code", "phone", "e-mail", "СНИЛС", "ОМС policy", "time zone", "comma-separated list"}[k]
}

// column is one column of the canonical contract.
type column struct {
	name     string
	kind     colKind
	required bool     // NULL or empty skips the row
	maxLen   int      // text length limit (runes) for text-like kinds
	codes    []string // allowed canonical values for kindCode ("" allowed when not required)
}

// contract is the canonical column contract, per statement kind. Every statement a
// profile declares for an entity must return exactly these columns (any order, any
// letter case).
var contract = map[string][]column{
	EntityBranch: {
		{name: "id", kind: kindKey, required: true},
		{name: "name", kind: kindText, required: true, maxLen: 300},
		{name: "address", kind: kindText, maxLen: 500},
		{name: "phone", kind: kindPhone, maxLen: 50},
		{name: "timezone", kind: kindZone, maxLen: 64},
		{name: "mo_oid", kind: kindText, maxLen: 64},
	},
	EntitySpecialty: {
		{name: "id", kind: kindKey, required: true},
		{name: "name", kind: kindText, required: true, maxLen: 300},
		{name: "code", kind: kindText, maxLen: 30},
	},
	EntityDoctor: {
		{name: "id", kind: kindKey, required: true},
		{name: "branch_id", kind: kindKey, required: true},
		{name: "specialty_id", kind: kindKey, required: true},
		{name: "last_name", kind: kindText, required: true, maxLen: 100},
		{name: "first_name", kind: kindText, required: true, maxLen: 100},
		{name: "middle_name", kind: kindText, maxLen: 100},
		{name: "snils", kind: kindSNILS, maxLen: 20},
		{name: "online_booking", kind: kindBool},
		{name: "slot_minutes", kind: kindInt},
	},
	EntityService: {
		{name: "id", kind: kindKey, required: true},
		{name: "name", kind: kindText, required: true, maxLen: 500},
		{name: "code", kind: kindText, maxLen: 50},
		{name: "specialty_id", kind: kindKey},
		{name: "price", kind: kindMoney},
		{name: "duration_minutes", kind: kindInt},
		{name: "mode", kind: kindCode, codes: []string{ModeClinic, ModeOnline}},
		{name: "prepay", kind: kindMoney},
		{name: "online_booking", kind: kindBool},
	},
	EntityPatient: {
		{name: "id", kind: kindKey, required: true},
		{name: "card_number", kind: kindText, maxLen: 50},
		{name: "last_name", kind: kindText, required: true, maxLen: 100},
		{name: "first_name", kind: kindText, required: true, maxLen: 100},
		{name: "middle_name", kind: kindText, maxLen: 100},
		{name: "birth_date", kind: kindDate},
		{name: "sex", kind: kindCode, codes: []string{"M", "F"}},
		{name: "phone", kind: kindPhone, maxLen: 100},
		{name: "email", kind: kindEmail, maxLen: 200},
		{name: "snils", kind: kindSNILS, maxLen: 20},
		{name: "oms", kind: kindOMS, maxLen: 30},
		{name: "consent_sms", kind: kindBool},
		{name: "consent_email", kind: kindBool},
		{name: "deleted", kind: kindBool},
	},
	EntityShift: {
		{name: "id", kind: kindKey, required: true},
		{name: "doctor_id", kind: kindKey, required: true},
		{name: "branch_id", kind: kindKey, required: true},
		{name: "date", kind: kindDate, required: true},
		{name: "start_time", kind: kindTime, required: true},
		{name: "end_time", kind: kindTime, required: true},
		{name: "break_start", kind: kindTime},
		{name: "break_end", kind: kindTime},
		{name: "room", kind: kindText, maxLen: 50},
		{name: "slot_minutes", kind: kindInt},
	},
	EntityAppointment: {
		{name: "id", kind: kindKey, required: true},
		{name: "patient_id", kind: kindKey},
		{name: "doctor_id", kind: kindKey, required: true},
		{name: "branch_id", kind: kindKey, required: true},
		{name: "date", kind: kindDate, required: true},
		{name: "start_time", kind: kindTime, required: true},
		{name: "end_time", kind: kindTime, required: true},
		{name: "status", kind: kindCode, required: true, codes: []string{StatusBooked, StatusCancelled, StatusCompleted, StatusNoShow}},
		{name: "cancel_reason", kind: kindText, maxLen: 500},
		{name: "source", kind: kindCode, codes: []string{SourceRegistry, SourcePhone, SourceOnline, SourceOther}},
		{name: "service_ids", kind: kindList},
		{name: "room", kind: kindText, maxLen: 50},
		{name: "comment", kind: kindText, maxLen: 1000},
		{name: "external_id", kind: kindText, maxLen: 64},
	},
}

// versionsContract is what every <entity>.versions statement returns.
var versionsContract = []column{
	{name: "id", kind: kindKey, required: true},
	{name: "version", kind: kindText, required: true},
}

// busyContract is what slot.busy and slot.blocked return.
var busyContract = []column{
	{name: "doctor_id", kind: kindKey, required: true},
	{name: "date", kind: kindDate, required: true},
	{name: "start_time", kind: kindTime, required: true},
	{name: "end_time", kind: kindTime, required: true},
}

// converters lists the converter names a profile may set with convert.<column>, and the
// column kinds each applies to.
var converters = map[string][]colKind{
	"ole_date":     {kindDate},  // OLE day number (days since 1899-12-30)
	"day_fraction": {kindTime},  // fraction of a day (0.375 = 09:00)
	"minutes":      {kindTime},  // minutes since midnight
	"flag":         {kindBool},  // 0/1, true/false, Y/N
	"not_flag":     {kindBool},  // inverted flag (1 = hidden → false)
	"rubles":       {kindMoney}, // rubles with kopecks after the point (default)
	"kopecks":      {kindMoney}, // whole kopecks
	"seconds":      {kindTime},  // seconds since midnight
	"yyyymmdd":     {kindDate},  // integer dates like 20240131
}

// contractColumns returns the contract of an entity ("" when unknown).
func contractColumns(entity string) ([]column, bool) {
	c, ok := contract[entity]
	return c, ok
}

func findColumn(cols []column, name string) (column, bool) {
	for _, c := range cols {
		if c.name == name {
			return c, true
		}
	}
	return column{}, false
}

func columnNames(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func converterNames() string {
	names := make([]string, 0, len(converters))
	for n := range converters {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func converterApplies(conv string, k colKind) bool {
	for _, kk := range converters[conv] {
		if kk == k {
			return true
		}
	}
	return false
}

// ContractColumns returns the canonical columns a profile statement of the given kind
// must return: "<entity>.rows" and "<entity>.by_keys" return the entity's columns,
// "<entity>.versions" returns id and version, "slot.busy" returns doctor_id, date,
// start_time and end_time. ok is false for write statements and unknown names.
func ContractColumns(statement string) (cols []string, ok bool) {
	var cs []column
	entity, kind, _ := strings.Cut(statement, ".")
	switch {
	case statement == "slot.busy", statement == "slot.blocked":
		cs = busyContract
	case kind == "versions":
		if _, known := contract[entity]; !known {
			return nil, false
		}
		cs = versionsContract
	case kind == "summary":
		if _, known := contract[entity]; !known {
			return nil, false
		}
		cs = summaryContract
		if !windowedEntity(entity) {
			cs = summaryTableContract
		}
	case kind == "changed":
		if _, known := contract[entity]; !known {
			return nil, false
		}
		cs = changedContract
	case kind == "rows" || kind == "by_keys":
		c, known := contract[entity]
		if !known {
			return nil, false
		}
		cs = c
	default:
		return nil, false
	}
	for _, c := range cs {
		cols = append(cols, c.name)
	}
	return cols, true
}
