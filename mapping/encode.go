package mapping

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"medsync/mapping/jsonx"
)

// Encode is a record's canonical JSON: what its fingerprint is computed from and what
// connectors receive. It is byte for byte json.Marshal of the record (a test compares
// them for every record type with random content); the records read by the million —
// appointments, shifts, slots, patients — are written by hand, several times faster,
// and the rest, or a time json.Marshal refuses, go through encoding/json.
func Encode(r Record) ([]byte, error) {
	if a, ok := r.(appender); ok {
		buf := scratch.Get().(*[]byte)
		b, ok := a.appendJSON((*buf)[:0])
		out := append([]byte(nil), b...) // exactly its size: pending records are held by the thousand
		*buf = b
		scratch.Put(buf)
		if ok {
			return out, nil
		}
	}
	return json.Marshal(r)
}

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appender is a record with a hand-written encoding; ok is false when it cannot
// encode the record as json.Marshal would (then json.Marshal does, and says why).
type appender interface {
	appendJSON(b []byte) (out []byte, ok bool)
}

// field appends `,"name":` (or `{"name":` as the first field).
func field(b []byte, name string) []byte {
	if len(b) == 0 {
		b = append(b, '{')
	} else {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func str(b []byte, name, v string) []byte {
	return jsonx.AppendString(field(b, name), v, true)
}

func optStr(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return str(b, name, v)
}

func boolean(b []byte, name string, v bool) []byte {
	return strconv.AppendBool(field(b, name), v)
}

func integer(b []byte, name string, v int64) []byte {
	return strconv.AppendInt(field(b, name), v, 10)
}

func timestamp(b []byte, name string, t time.Time) ([]byte, bool) {
	return jsonx.AppendTime(field(b, name), t)
}

func optTimestamp(b []byte, name string, t *time.Time) ([]byte, bool) {
	if t == nil {
		return b, true
	}
	return timestamp(b, name, *t)
}

func (r *Appointment) appendJSON(b []byte) ([]byte, bool) {
	b = str(b[:0], "id", r.ID)
	b = optStr(b, "patient_id", r.PatientID)
	b = str(b, "doctor_id", r.DoctorID)
	b = str(b, "branch_id", r.BranchID)
	b, ok1 := timestamp(b, "start", r.Start)
	b, ok2 := timestamp(b, "end", r.End)
	b = str(b, "status", r.Status)
	b = optStr(b, "cancel_reason", r.CancelReason)
	b = str(b, "source", r.Source)
	if len(r.ServiceIDs) > 0 {
		b = field(b, "service_ids")
		for i, id := range r.ServiceIDs {
			if i == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			b = jsonx.AppendString(b, id, true)
		}
		b = append(b, ']')
	}
	b = optStr(b, "room", r.Room)
	b = optStr(b, "comment", r.Comment)
	b = optStr(b, "external_id", r.ExternalID)
	return append(b, '}'), ok1 && ok2
}

func (r *Shift) appendJSON(b []byte) ([]byte, bool) {
	b = str(b[:0], "id", r.ID)
	b = str(b, "doctor_id", r.DoctorID)
	b = str(b, "branch_id", r.BranchID)
	b, ok1 := timestamp(b, "start", r.Start)
	b, ok2 := timestamp(b, "end", r.End)
	b, ok3 := optTimestamp(b, "break_start", r.BreakStart)
	b, ok4 := optTimestamp(b, "break_end", r.BreakEnd)
	b = optStr(b, "room", r.Room)
	b = integer(b, "slot_minutes", int64(r.SlotMinutes))
	return append(b, '}'), ok1 && ok2 && ok3 && ok4
}

func (r *Slot) appendJSON(b []byte) ([]byte, bool) {
	b = str(b[:0], "id", r.ID)
	b = str(b, "doctor_id", r.DoctorID)
	b = str(b, "branch_id", r.BranchID)
	b = str(b, "shift_id", r.ShiftID)
	b, ok1 := timestamp(b, "start", r.Start)
	b, ok2 := timestamp(b, "end", r.End)
	b = boolean(b, "free", r.Free)
	b = optStr(b, "room", r.Room)
	return append(b, '}'), ok1 && ok2
}

func (r *Patient) appendJSON(b []byte) ([]byte, bool) {
	b = str(b[:0], "id", r.ID)
	b = optStr(b, "card_number", r.CardNumber)
	b = str(b, "last_name", r.LastName)
	b = str(b, "first_name", r.FirstName)
	b = optStr(b, "middle_name", r.MiddleName)
	b = optStr(b, "birth_date", r.BirthDate)
	b = optStr(b, "sex", r.Sex)
	b = optStr(b, "phone", r.Phone)
	b = optStr(b, "email", r.Email)
	b = optStr(b, "snils", r.SNILS)
	b = optStr(b, "oms", r.OMS)
	b = boolean(b, "consent_sms", r.ConsentSMS)
	b = boolean(b, "consent_email", r.ConsentEmail)
	b = boolean(b, "deleted", r.Deleted)
	return append(b, '}'), true
}
