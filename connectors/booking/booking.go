// Package booking is medsync's one booking path: every channel that takes bookings or
// cancellations from patients (ONDOC's feed, the ЕПГУ/ФЭР SOAP service, …) calls Book
// and Cancel here, so the checks, the MIS transaction and the refresh of the synced
// state are the same for all of them (DESIGN.md invariant 11).
//
// Book checks the request against the synced schedule for a fast answer, then writes it
// in one MIS transaction of the profile's write statements (README.md lists them and
// their parameters): lock the doctor, find the channel's booking id (idempotency), re-check
// the doctor, the patient, the doctor's bookable time and overlaps inside the
// transaction, insert, attach services. After the commit it asks the host to refresh the
// doctor's day, so the slot's new state reaches every other connector at once.
// Refusals come back as *Refusal (errors.As) with a code and a Russian message for the
// patient; any other error is a MIS failure worth retrying.
package booking

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"medsync/connectors"
)

// Request is one booking from a channel.
type Request struct {
	Channel    string // "ondoc", "fer", … (for logs and the MIS ext id namespace)
	ExtID      string // the channel's own booking id: the idempotency key in the MIS
	DoctorID   string
	PatientID  string
	BranchID   string // empty: the branch of the synced slot (or the doctor's) at that time
	ServiceIDs []string
	Start, End time.Time // instants; converted to the branch's zone
	Comment    string
}

// Result is what a booking or cancellation did.
type Result struct {
	AppointmentID string // the MIS appointment id
	Existing      bool   // Book: found by ExtID (the same booking again); Cancel: already cancelled
}

// Refusal codes.
const (
	CodeSlotTaken         = "slot_taken"          // another appointment overlaps
	CodeOutsideSchedule   = "outside_schedule"    // not inside the doctor's bookable time (no shift that day, a break, outside the shift)
	CodeInPast            = "in_past"             // starts before now plus the cut-off
	CodeOutOfWindow       = "out_of_window"       // beyond the sync window (days_ahead), or a year like 1900/9999
	CodeDoctorNotBookable = "doctor_not_bookable" // unknown doctor, disabled, or hidden from online booking
	CodePatientNotFound   = "patient_not_found"   // no such patient card
	CodeInvalid           = "invalid"             // unusable request: empty ids, end not after start, over-long ids
	CodeNotFound          = "not_found"           // Cancel: no such appointment
)

var messages = map[string]string{
	CodeSlotTaken:         "Это время уже занято, выберите другое",
	CodeOutsideSchedule:   "Врач в это время не принимает, выберите другое время",
	CodeInPast:            "Это время уже прошло или запись на него закрыта",
	CodeOutOfWindow:       "Запись на эту дату пока не открыта",
	CodeDoctorNotBookable: "Запись к этому врачу онлайн недоступна",
	CodePatientNotFound:   "Пациент не найден в клинике: прикрепитесь по коду из регистратуры",
	CodeInvalid:           "Некорректные данные записи",
	CodeNotFound:          "Запись не найдена",
}

// Message returns the Russian text for a refusal code (for channels that show their
// own code list).
func Message(code string) string { return messages[code] }

// Refusal is a booking or cancellation the clinic declines: the request was understood
// and answered, nothing is retried.
type Refusal struct {
	Code    string // one of the Code* constants
	Message string // Russian, for the patient or the peer
	Detail  string // English, for the log: what exactly was wrong
}

func (r *Refusal) Error() string {
	if r.Detail != "" {
		return "booking refused: " + r.Code + ": " + r.Detail
	}
	return "booking refused: " + r.Code
}

func refuse(code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Message: messages[code], Detail: fmt.Sprintf(format, args...)}
}

// CancelRequest is one cancellation from a channel. ExtID (the channel's booking id) or
// AppointmentID (the MIS id) names the appointment; ExtID wins when both are given.
type CancelRequest struct {
	Channel       string
	ExtID         string
	AppointmentID string
	Reason        string // canonical reason code, one of the Reason* constants; empty: ReasonPatient
	Comment       string
}

// Canonical cancel reasons. Each reaches the statements as :reason_code and as
// :reason_text (the Russian text, see Options.ReasonText), so a MIS can map either.
const (
	ReasonPatient     = "patient"     // the patient cancelled
	ReasonRescheduled = "rescheduled" // the patient moves the visit
	ReasonDoctor      = "doctor"      // the doctor cannot see the patient (illness, leave)
	ReasonClinic      = "clinic"      // the clinic cancelled (schedule change, error)
	ReasonOther       = "other"
)

// DefaultReasonText is the Russian text of each canonical reason, as the demo MIS's
// DELREASONS.TEXT holds it.
var DefaultReasonText = map[string]string{
	ReasonPatient:     "Пациент отменил запись",
	ReasonRescheduled: "Перенос по просьбе пациента",
	ReasonDoctor:      "Болезнь врача",
	ReasonClinic:      "Отменено клиникой",
	ReasonOther:       "Другая причина",
}

// Options configure a Booker.
type Options struct {
	// Zone is the zone of a branch whose synced record names none (and of every
	// branch when the host keeps no branch records). Default: time.Local.
	Zone *time.Location
	// DaysAhead is the sync window: a booking starting on a later day (counted in the
	// branch's zone) is refused as out_of_window. 0: no window check beyond the year
	// sanity check.
	DaysAhead int
	// CutOff is how long before its start a booking is still taken (a booking
	// starting before now+CutOff is refused as in_past).
	CutOff time.Duration
	// ReasonText overrides DefaultReasonText for some codes.
	ReasonText map[string]string
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
	// Logger defaults to the host's logger.
	Logger *slog.Logger
}

// Booker books and cancels through a host's MIS writer.
type Booker struct {
	host connectors.Host
	o    Options
	log  *slog.Logger
}

// New returns a Booker over the host's services.
func New(host connectors.Host, o Options) *Booker {
	if o.Zone == nil {
		o.Zone = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = host.Logger()
	}
	if log == nil {
		log = slog.Default()
	}
	return &Booker{host: host, o: o, log: log}
}

// ErrUnsupported is returned (wrapped) when the MIS profile declares no booking or
// cancellation statements: medsync is read-only for this MIS.
var ErrUnsupported = errors.New("the MIS profile declares no write statements for this")

// Supported reports whether the profile declares the statements Book needs, and
// which are missing.
func (b *Booker) Supported() (ok bool, missing []string) {
	return has(b.host.MIS(), required...)
}

// CancelSupported reports whether the profile declares the statements Cancel needs.
func (b *Booker) CancelSupported() (ok bool, missing []string) {
	return has(b.host.MIS(), stmtCancelExt)
}

func has(w connectors.MISWriter, names ...string) (bool, []string) {
	var missing []string
	for _, n := range names {
		if w == nil || !w.Has(n) {
			missing = append(missing, n)
		}
	}
	return len(missing) == 0, missing
}
