package ondoc

// This file is the ONE place that knows ONDOC's wire format: paths, headers, payload
// field names, status and reason codes. ONDOC publishes no partner API, so this is the
// contract this release speaks (documented in README.md); paths and header names can
// be overridden from config where a deployment could plausibly differ.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"medsync/connectors"
	"medsync/connectors/booking"
	"medsync/mapping/convert"
)

// Token kinds. The company key is ONDOC's "Access token (old API)", the branch key its
// "Access token (new API)".
const (
	tokenCompany = "company"
	tokenBranch  = "branch"
)

// Endpoint names, usable as `path.<name>` config keys.
const (
	epFilials     = "filials"
	epSpecialties = "specialities"
	epDoctors     = "doctors"
	epServices    = "services"
	epCompanyPing = "company_ping"
	epSlots       = "slots"
	epVisits      = "visits"
	epPatients    = "patients"
	epLinkCode    = "link_code"
	epUnlink      = "unlink"
	epEvents      = "events"
	epAnswer      = "booking_answer"
	epBranchPing  = "branch_ping"
)

// endpoint is one path of the contract and the token it is authorised with.
type endpoint struct {
	Path   string
	Method string
	Token  string
}

// defaultEndpoints lists every path relative to `server`. Reference data (the company
// directories ONDOC maps by hand on «Запросить данные») goes with the company key;
// everything of one branch (schedule, visits, patients, bookings) with the branch key.
var defaultEndpoints = map[string]endpoint{
	epFilials:     {"/company/filials", http.MethodPost, tokenCompany},
	epSpecialties: {"/company/specialities", http.MethodPost, tokenCompany},
	epDoctors:     {"/company/doctors", http.MethodPost, tokenCompany},
	epServices:    {"/company/services", http.MethodPost, tokenCompany},
	epCompanyPing: {"/company/ping", http.MethodGet, tokenCompany},
	epSlots:       {"/branch/slots", http.MethodPost, tokenBranch},
	epVisits:      {"/branch/visits", http.MethodPost, tokenBranch},
	epPatients:    {"/branch/patients", http.MethodPost, tokenBranch},
	epLinkCode:    {"/branch/patients/link-code", http.MethodPost, tokenBranch},
	epUnlink:      {"/branch/patients/unlink", http.MethodPost, tokenBranch},
	epEvents:      {"/branch/events", http.MethodGet, tokenBranch},
	epAnswer:      {"/branch/bookings/answer", http.MethodPost, tokenBranch},
	epBranchPing:  {"/branch/ping", http.MethodGet, tokenBranch},
}

// endpointNames returns the names of all endpoints, sorted (for help and errors).
func endpointNames() []string {
	out := make([]string, 0, len(defaultEndpoints))
	for n := range defaultEndpoints {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Header defaults (overridable: auth_header, auth_scheme, idempotency_header).
const (
	defaultAuthHeader        = "Authorization"
	defaultAuthScheme        = "Bearer"
	defaultIdempotencyHeader = "Idempotency-Key"
)

// maxItems is the most items one batch request may carry.
const maxItems = 100

// eventsPageSize is the `limit` asked for on the events feed.
const eventsPageSize = 100

// Query parameters of the events feed: GET <events>?after=<cursor>&limit=<n>.
const (
	qAfter = "after"
	qLimit = "limit"
)

// formatTime renders t as 2006-01-02T15:04:05+03:00 (explicit offset, never "Z") in zone (when set) or in its own offset.
func formatTime(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if zone != nil {
		t = t.In(zone)
	}
	return convert.FormatTime(t)
}

// parseTime reads a timestamp ONDOC sends (RFC 3339 with an offset).
func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

// Visit statuses as ONDOC shows them to the patient.
const (
	visitBooked    = "Записан"
	visitCancelled = "Отменена"
	visitCompleted = "Завершена"
	visitNoShow    = "Неявка"
)

// reasonDeletedInMIS is the cancel reason sent when an appointment vanished from the MIS.
const reasonDeletedInMIS = "Запись удалена в МИС"

// Unlink reasons.
const (
	unlinkCardDeleted = "card_deleted"
	unlinkRevoked     = "revoked"
)

// Booking answers.
const (
	answerConfirmed = "confirmed"
	answerRejected  = "rejected"
)

// Reject reason codes with the text ONDOC shows the patient.
const (
	reasonSlotTaken         = "slot_taken"
	reasonDoctorNotBookable = "doctor_not_bookable"
	reasonPatientNotFound   = "patient_not_found"
	reasonInvalidBooking    = "invalid_booking"
	reasonOutsideSchedule   = "outside_schedule"
	reasonInPast            = "in_past"
	reasonOutOfWindow       = "out_of_window"
)

// reasonFor maps a refusal code of the booking path (connectors/booking) to ONDOC's.
func reasonFor(code string) string {
	switch code {
	case booking.CodeSlotTaken, booking.CodeDoctorNotBookable, booking.CodePatientNotFound,
		booking.CodeOutsideSchedule, booking.CodeInPast, booking.CodeOutOfWindow:
		return code
	}
	return reasonInvalidBooking
}

var reasonText = map[string]string{
	reasonSlotTaken:         "Это время уже занято, выберите другое",
	reasonDoctorNotBookable: "Запись к этому врачу онлайн недоступна",
	reasonPatientNotFound:   "Пациент не найден в клинике: прикрепитесь по коду из регистратуры",
	reasonInvalidBooking:    "Некорректные данные записи",
	reasonOutsideSchedule:   booking.Message(booking.CodeOutsideSchedule),
	reasonInPast:            booking.Message(booking.CodeInPast),
	reasonOutOfWindow:       booking.Message(booking.CodeOutOfWindow),
}

// Event types on the events feed.
const (
	evBookingCreated   = "booking.created"
	evBookingCancelled = "booking.cancelled"
	evPatientLinked    = "patient.linked"
	evPatientUnlinked  = "patient.unlinked"
)

// Per-item result statuses in a batch answer.
const (
	resultOK        = "ok"
	resultDuplicate = "duplicate"
	resultRejected  = "rejected"
)

// batchRequest is the body of every batch endpoint: {"items":[...]}.
type batchRequest struct {
	Items []any `json:"items"`
}

// batchResponse is a 2xx answer to a batch: one result per item, in order.
type batchResponse struct {
	Results []itemResult `json:"results"`
}

type itemResult struct {
	MisID   string `json:"mis_id"`
	Status  string `json:"status"` // ok | duplicate | rejected
	Code    string `json:"code,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message,omitempty"`
}

// codePatientNotLinked is the refusal of a visit or a patient card because ONDOC does
// not have the patient linked to the clinic (an item's `code` in a batch answer, or
// the error code of a 4xx). It is not a bad record: the link state medsync keeps was
// behind ONDOC's (a link notice read after medsync's own unlink, an unlink whose
// notice was lost), and the visit is held until the patient links again.
const codePatientNotLinked = "patient_not_linked"

// errorResponse is the body of a 4xx/5xx answer.
type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
		MisID   string `json:"mis_id,omitempty"`
	} `json:"error"`
}

// Wire items. Every item carries the event's delivery key (Event.DeliveryKey).

type wireFilial struct {
	MisID          string `json:"mis_id"`
	Name           string `json:"name,omitempty"`
	Address        string `json:"address,omitempty"`
	Phone          string `json:"phone,omitempty"`
	TimeZone       string `json:"timezone,omitempty"`
	Active         bool   `json:"active"`
	IdempotencyKey string `json:"idempotency_key"`
}

type wireSpeciality struct {
	MisID          string `json:"mis_id"`
	Name           string `json:"name,omitempty"`
	Code           string `json:"code,omitempty"`
	Active         bool   `json:"active"`
	IdempotencyKey string `json:"idempotency_key"`
}

type wireDoctor struct {
	MisID           string `json:"mis_id"`
	FilialMisID     string `json:"filial_mis_id,omitempty"`
	SpecialityMisID string `json:"speciality_mis_id,omitempty"`
	LastName        string `json:"last_name,omitempty"`
	FirstName       string `json:"first_name,omitempty"`
	MiddleName      string `json:"middle_name,omitempty"`
	SNILS           string `json:"snils,omitempty"`
	SlotMinutes     int    `json:"slot_minutes,omitempty"`
	Active          bool   `json:"active"` // false: withdrawn from online booking
	IdempotencyKey  string `json:"idempotency_key"`
}

type wireService struct {
	MisID           string `json:"mis_id"`
	Name            string `json:"name,omitempty"`
	Code            string `json:"code,omitempty"`
	SpecialityMisID string `json:"speciality_mis_id,omitempty"`
	Price           string `json:"price,omitempty"` // rubles, "1500.00"
	DurationMinutes int    `json:"duration_minutes,omitempty"`
	Mode            string `json:"mode,omitempty"` // clinic | online
	Prepayment      string `json:"prepayment,omitempty"`
	Active          bool   `json:"active"`
	IdempotencyKey  string `json:"idempotency_key"`
}

type wireSlot struct {
	MisID          string `json:"mis_id"`
	DoctorMisID    string `json:"doctor_mis_id,omitempty"`
	FilialMisID    string `json:"filial_mis_id,omitempty"`
	Start          string `json:"start,omitempty"`
	End            string `json:"end,omitempty"`
	Free           bool   `json:"free"`
	Room           string `json:"room,omitempty"`
	Deleted        bool   `json:"deleted,omitempty"`
	IdempotencyKey string `json:"idempotency_key"`
}

type wireVisit struct {
	MisID          string   `json:"mis_id"`
	PatientMisID   string   `json:"patient_mis_id"`
	DoctorMisID    string   `json:"doctor_mis_id,omitempty"`
	FilialMisID    string   `json:"filial_mis_id,omitempty"`
	Start          string   `json:"start,omitempty"`
	End            string   `json:"end,omitempty"`
	Status         string   `json:"status"` // Записан | Отменена | Завершена | Неявка
	CancelReason   string   `json:"cancel_reason,omitempty"`
	Source         string   `json:"source,omitempty"`
	ServiceMisIDs  []string `json:"service_mis_ids,omitempty"`
	Room           string   `json:"room,omitempty"`
	Comment        string   `json:"comment,omitempty"`
	BookingID      string   `json:"booking_id,omitempty"` // ONDOC's id when it was booked there
	IdempotencyKey string   `json:"idempotency_key"`
}

type wirePatient struct {
	MisID          string `json:"mis_id"`
	CardNumber     string `json:"card_number,omitempty"`
	LastName       string `json:"last_name,omitempty"`
	FirstName      string `json:"first_name,omitempty"`
	MiddleName     string `json:"middle_name,omitempty"`
	BirthDate      string `json:"birth_date,omitempty"`
	Phone          string `json:"phone,omitempty"`
	Email          string `json:"email,omitempty"`
	IdempotencyKey string `json:"idempotency_key"`
}

// linkCodeRequest sends a 9-digit code bound to a patient card.
type linkCodeRequest struct {
	PatientMisID string `json:"patient_mis_id"`
	Code         string `json:"code"`
	ExpiresAt    string `json:"expires_at,omitempty"`
}

// linkCodeResponse: linked is true when the patient is already attached.
type linkCodeResponse struct {
	Linked bool `json:"linked"`
}

type unlinkRequest struct {
	PatientMisID string `json:"patient_mis_id"`
	Reason       string `json:"reason"` // card_deleted | revoked
}

// eventsResponse is one page of the events feed.
type eventsResponse struct {
	Events []feedEvent `json:"events"`
	Next   string      `json:"next"` // cursor to pass as `after` next time
	More   bool        `json:"more"`
}

type feedEvent struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Booking      *feedBooking `json:"booking,omitempty"`
	PatientMisID string       `json:"patient_mis_id,omitempty"` // link / unlink notices
}

type feedBooking struct {
	BookingID     string   `json:"booking_id"`
	PatientMisID  string   `json:"patient_mis_id,omitempty"`
	DoctorMisID   string   `json:"doctor_mis_id,omitempty"`
	FilialMisID   string   `json:"filial_mis_id,omitempty"`
	ServiceMisIDs []string `json:"service_mis_ids,omitempty"`
	Start         string   `json:"start,omitempty"`
	End           string   `json:"end,omitempty"`
	Comment       string   `json:"comment,omitempty"`
	Reason        string   `json:"reason,omitempty"` // cancellations: why the patient cancelled
}

// bookingAnswer confirms or rejects a booking made in ONDOC.
type bookingAnswer struct {
	BookingID  string `json:"booking_id"`
	Result     string `json:"result"` // confirmed | rejected
	MisVisitID string `json:"mis_visit_id,omitempty"`
	ReasonCode string `json:"reason_code,omitempty"`
	ReasonText string `json:"reason_text,omitempty"`
}

// rubles renders kopecks as "1500.00".
func rubles(k int64) string {
	sign := ""
	if k < 0 {
		sign, k = "-", -k
	}
	return fmt.Sprintf("%s%d.%02d", sign, k/100, k%100)
}

// decodeError extracts the error object from a non-2xx body (best effort).
func decodeError(body []byte) (code, message, field, misID string) {
	var e errorResponse
	if json.Unmarshal(body, &e) == nil {
		return e.Error.Code, connectors.PeerText(e.Error.Message), e.Error.Field, e.Error.MisID
	}
	return "", connectors.PeerText(string(body)), "", ""
}

// jsonUnmarshal decodes an answer; unknown fields in ONDOC's answers are tolerated so
// that ONDOC can add fields without breaking this release.
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// parseHTTPDate reads the HTTP-date form of Retry-After.
func parseHTTPDate(s string) (time.Time, error) { return http.ParseTime(s) }
