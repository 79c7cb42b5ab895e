// Package mapping holds medsync's canonical model of a clinic (branches, doctors,
// services, shifts, slots, appointments, patients, link codes, staff records), the MIS
// profiles that read it from a clinic database, and the converters and code tables that
// turn legacy MIS values into that model.
package mapping

import "time"

// Entity names, as they appear in profiles, events, the state store and config.
const (
	EntityBranch      = "branch"
	EntitySpecialty   = "specialty"
	EntityDoctor      = "doctor"
	EntityService     = "service"
	EntityPatient     = "patient"
	EntityShift       = "shift"
	EntityAppointment = "appointment"
	EntitySlot        = "slot" // derived from shifts minus breaks minus busy appointments
)

// Entities lists every entity in the order a poll reads them: reference data first,
// then patients, then the windowed schedule entities, and the derived slots last.
var Entities = []string{
	EntityBranch, EntitySpecialty, EntityDoctor, EntityService, EntityPatient,
	EntityShift, EntityAppointment, EntitySlot,
}

// Record is one canonical record. Its JSON encoding is what connectors receive as the
// event's data and what its fingerprint is computed from.
type Record interface {
	EntityName() string
	RecordKey() string
}

// Windowed is implemented by records that belong to the poll window (shifts,
// appointments, slots). WindowDay is the record's local calendar day.
type Windowed interface {
	WindowDay() time.Time
}

// Branch is a clinic branch (филиал / корпус).
type Branch struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Address  string `json:"address,omitempty"`
	Phone    string `json:"phone,omitempty"`
	TimeZone string `json:"timezone"`         // IANA name, e.g. Europe/Moscow
	MOOID    string `json:"mo_oid,omitempty"` // ФРМО OID of the department, for ЕПГУ/ФЭР
}

// Specialty is a doctor's specialty (специальность).
type Specialty struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Code string `json:"code,omitempty"` // federal code (V021/ФРМР) when the MIS keeps one
}

// Doctor is a doctor who can have a schedule.
type Doctor struct {
	ID            string `json:"id"`
	BranchID      string `json:"branch_id"`
	SpecialtyID   string `json:"specialty_id"`
	LastName      string `json:"last_name"`
	FirstName     string `json:"first_name"`
	MiddleName    string `json:"middle_name,omitempty"`
	SNILS         string `json:"snils,omitempty"` // 11 digits, checksum verified
	OnlineBooking bool   `json:"online_booking"`
	SlotMinutes   int    `json:"slot_minutes"` // default slot length; 30 when the MIS has none
}

// Service modes.
const (
	ModeClinic = "clinic"
	ModeOnline = "online"
)

// Service is a bookable service with its price.
type Service struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Code        string `json:"code,omitempty"`
	SpecialtyID string `json:"specialty_id,omitempty"`
	// PriceKopecks is nil when the MIS has no price for the service (NULL): unknown,
	// not free. Each connector decides what an unknown price becomes (ONDOC: the price
	// is left out; see its README). Use Price() for the value and whether it is known.
	PriceKopecks    *int64 `json:"price_kopecks,omitempty"`
	DurationMinutes int    `json:"duration_minutes"`
	Mode            string `json:"mode"` // ModeClinic or ModeOnline
	PrepayKopecks   int64  `json:"prepay_kopecks,omitempty"`
	OnlineBooking   bool   `json:"online_booking"`
}

// Price is the service's price in kopecks and whether the MIS knows it.
func (s *Service) Price() (kopecks int64, known bool) {
	if s.PriceKopecks == nil {
		return 0, false
	}
	return *s.PriceKopecks, true
}

// Kopecks is a known price, for building a Service.
func Kopecks(k int64) *int64 { return &k }

// Shift is a doctor's working period on one day, with an optional break.
type Shift struct {
	ID          string     `json:"id"`
	DoctorID    string     `json:"doctor_id"`
	BranchID    string     `json:"branch_id"`
	Start       time.Time  `json:"start"`
	End         time.Time  `json:"end"`
	BreakStart  *time.Time `json:"break_start,omitempty"`
	BreakEnd    *time.Time `json:"break_end,omitempty"`
	Room        string     `json:"room,omitempty"`
	SlotMinutes int        `json:"slot_minutes"`
}

// Slot is one bookable cell of a shift. Its ID is stable: derived from doctor and
// start time, formatted as a GUID (ФЭР requires Slot_Id to be a GUID).
type Slot struct {
	ID       string    `json:"id"`
	DoctorID string    `json:"doctor_id"`
	BranchID string    `json:"branch_id"`
	ShiftID  string    `json:"shift_id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Free     bool      `json:"free"`
	Room     string    `json:"room,omitempty"`
}

// Appointment statuses.
const (
	StatusBooked    = "booked"
	StatusCancelled = "cancelled"
	StatusCompleted = "completed"
	StatusNoShow    = "no_show"
)

// Appointment sources.
const (
	SourceRegistry = "registry" // booked at the desk
	SourcePhone    = "phone"    // call centre
	SourceOnline   = "online"   // web site, patient app, portal
	SourceOther    = "other"
)

// Appointment is a visit booked with a doctor.
type Appointment struct {
	ID           string    `json:"id"`
	PatientID    string    `json:"patient_id,omitempty"`
	DoctorID     string    `json:"doctor_id"`
	BranchID     string    `json:"branch_id"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Status       string    `json:"status"`
	CancelReason string    `json:"cancel_reason,omitempty"`
	Source       string    `json:"source"`
	ServiceIDs   []string  `json:"service_ids,omitempty"`
	Room         string    `json:"room,omitempty"`
	Comment      string    `json:"comment,omitempty"`
	ExternalID   string    `json:"external_id,omitempty"` // id of a booking made in another system
}

// Patient is a patient card (медицинская карта).
type Patient struct {
	ID           string `json:"id"`
	CardNumber   string `json:"card_number,omitempty"`
	LastName     string `json:"last_name"`
	FirstName    string `json:"first_name"`
	MiddleName   string `json:"middle_name,omitempty"`
	BirthDate    string `json:"birth_date,omitempty"` // YYYY-MM-DD, a calendar date without zone
	Sex          string `json:"sex,omitempty"`        // "M", "F" or empty
	Phone        string `json:"phone,omitempty"`      // E.164, +7XXXXXXXXXX
	Email        string `json:"email,omitempty"`
	SNILS        string `json:"snils,omitempty"`
	OMS          string `json:"oms,omitempty"` // ОМС policy number
	ConsentSMS   bool   `json:"consent_sms"`
	ConsentEmail bool   `json:"consent_email"`
	Deleted      bool   `json:"deleted"`
}

func (r *Branch) EntityName() string      { return EntityBranch }
func (r *Branch) RecordKey() string       { return r.ID }
func (r *Specialty) EntityName() string   { return EntitySpecialty }
func (r *Specialty) RecordKey() string    { return r.ID }
func (r *Doctor) EntityName() string      { return EntityDoctor }
func (r *Doctor) RecordKey() string       { return r.ID }
func (r *Service) EntityName() string     { return EntityService }
func (r *Service) RecordKey() string      { return r.ID }
func (r *Shift) EntityName() string       { return EntityShift }
func (r *Shift) RecordKey() string        { return r.ID }
func (r *Shift) WindowDay() time.Time     { return r.Start }
func (r *Slot) EntityName() string        { return EntitySlot }
func (r *Slot) RecordKey() string         { return r.ID }
func (r *Slot) WindowDay() time.Time      { return r.Start }
func (r *Appointment) EntityName() string { return EntityAppointment }
func (r *Appointment) RecordKey() string  { return r.ID }
func (r *Appointment) WindowDay() time.Time {
	return r.Start
}
func (r *Patient) EntityName() string { return EntityPatient }
func (r *Patient) RecordKey() string  { return r.ID }
