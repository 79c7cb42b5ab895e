package fer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"medsync/connectors"
	"medsync/connectors/booking"
	"medsync/mapping"
	"medsync/mapping/convert"
)

// Channel is the name bookings made here carry in the one booking path.
const Channel = "fer"

// PatientLookup is the profile's read statement GetPatientInfo runs (read.patient_lookup):
// it returns the ids of live patient cards matching any of :oms, :snils or
// (:last_name, :first_name, :birth_ole / :birth_date), with a match_rank column: 1 policy,
// 2 СНИЛС, 3 name and birth date.
const PatientLookup = "read.patient_lookup"

func (c *Conn) getPatientInfo(ctx context.Context, r *request) any {
	var q getPatientInfoReq
	if resp := c.open(r, &q); resp != nil {
		return resp
	}
	params, e := lookupParams(q.Patient)
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	reader, _ := c.host().(connectors.MISReader)
	if reader == nil {
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeUnavailable, Message: "Поиск пациента в МИС не настроен"})
	}
	best, ids := 99, map[string]bool{}
	err := reader.QueryMIS(ctx, PatientLookup, params, func(row map[string]string) error {
		rank := 3
		switch strings.TrimSpace(row["match_rank"]) {
		case "1":
			rank = 1
		case "2":
			rank = 2
		}
		if rank < best {
			best, ids = rank, map[string]bool{}
		}
		if rank == best && row["id"] != "" {
			ids[row["id"]] = true
		}
		return nil
	})
	if err != nil {
		c.log.Error("ФЭР: patient lookup failed", "statement", PatientLookup, "error", err)
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeUnavailable, Message: "МИС временно недоступна, повторите запрос позже"})
	}
	switch len(ids) {
	case 0:
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codePatientUnknown, Message: "Пациент не найден в медицинской организации"})
	case 1:
	default:
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codePatientAmbig, Message: "Найдено несколько пациентов: обратитесь в регистратуру"})
	}
	var id string
	for k := range ids {
		id = k
	}
	if err := c.sessions.setPatient(ctx, strings.TrimSpace(q.SessionID), id, c.now()); err != nil {
		c.log.Error("ФЭР: state file: the session's patient cannot be remembered", "error", err)
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeUnavailable, Message: msgServiceDown})
	}
	return &getPatientInfoResp{SessionID: q.SessionID, PatientID: id}
}

// lookupParams normalises Patient_Data into the statement's parameters.
func lookupParams(p PatientData) (map[string]any, *ErrorType) {
	last, first := properName(p.LastName), properName(p.FirstName)
	if last == "" {
		return nil, invalid("Patient_Data/Last_Name", "", "Не указана фамилия")
	}
	if first == "" {
		return nil, invalid("Patient_Data/First_Name", "", "Не указано имя")
	}
	bd, e := parseDate("Patient_Data/Birth_Date", p.BirthDate)
	if e != nil {
		return nil, e
	}
	params := map[string]any{
		"last_name": last, "first_name": first, "middle_name": properName(p.MiddleName),
		"birth_date": bd.Format("2006-01-02"), "birth_ole": convert.ToOLE(convert.FromTime(bd)),
		"oms": "", "snils": "",
	}
	if strings.TrimSpace(p.SNILS) != "" {
		s, err := convert.SNILS(p.SNILS)
		if err != nil {
			return nil, invalid("Patient_Data/SNILS", "", "СНИЛС не прошёл проверку контрольной суммы")
		}
		params["snils"] = s
	}
	if strings.TrimSpace(p.OMSNumber) != "" {
		o, err := convert.OMS(strings.TrimSpace(p.OMSSeries + " " + p.OMSNumber))
		if err != nil {
			o = strings.TrimSpace(p.OMSNumber)
		}
		params["oms"] = strings.ReplaceAll(o, " ", "")
	}
	return params, nil
}

// properName writes a name as MIS cards keep it: «Иванова-Петрова».
func properName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(strings.ToLower(s))
	up := true
	for i, ch := range r {
		if up {
			r[i] = []rune(strings.ToUpper(string(ch)))[0]
		}
		up = ch == '-' || ch == ' '
	}
	return string(r)
}

// msgServiceDown answers a call the connector's own state file failed.
const msgServiceDown = "Сервис записи временно недоступен, повторите запрос позже"

// extID is the external booking id of a CreateAppointment: the same for a retry of
// the same session and slot, so a retried call returns the first booking.
func extID(session, slot string) string {
	h := sha256.Sum256([]byte(strings.ToLower(session) + "|" + strings.ToLower(slot)))
	return "fer-" + hex.EncodeToString(h[:12])
}

func (c *Conn) createAppointment(ctx context.Context, r *request) any {
	var q createReq
	if e := r.decode(&q); e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	session, slotID := strings.TrimSpace(q.SessionID), strings.ToLower(strings.TrimSpace(q.SlotID))
	if e := checkSession(session); e != nil {
		return c.errorResponse(r.op, session, e)
	}
	fail := func(code, msg string) any {
		resp := c.errorResponse(r.op, session, &ErrorType{Code: code, Message: msg}).(*createResp)
		if guidRe.MatchString(slotID) {
			resp.SlotID = slotID
		}
		return resp
	}
	if !guidRe.MatchString(slotID) {
		return fail(codeInvalid, "Slot_Id должен быть GUID")
	}
	var slot *mapping.Slot
	var doc *docView
	c.ix.read(func(v *refView) {
		if slot = c.ix.slots[slotID]; slot != nil {
			if d := c.ix.doctors[slot.DoctorID]; d != nil && d.SNILS != "" {
				doc = v.bySNILS[mustSNILS(d.SNILS)]
			}
		}
	})
	if slot == nil || doc == nil || doc.doc.ID != slot.DoctorID {
		return fail(codeUnknownSlot, "Слот с таким Slot_Id не найден в расписании")
	}
	local := slot.Start.In(doc.mo.zone)
	fail = func(code, msg string) any { // a refusal of a known slot names its time
		resp := c.errorResponse(r.op, session, &ErrorType{Code: code, Message: msg}).(*createResp)
		resp.SlotID, resp.VisitTime = slotID, convert.FormatTime(local)
		return resp
	}
	patient, err := c.sessions.patient(ctx, session, c.now())
	if err != nil {
		c.log.Error("ФЭР: state file: the session's patient cannot be read", "error", err)
		return fail(codeUnavailable, msgServiceDown)
	}
	if patient == "" {
		return fail(codePatientRequired, "Пациент не идентифицирован в этой сессии: сначала вызовите GetPatientInfo с тем же Session_ID")
	}
	ext := extID(session, slotID)
	res, err := c.booker().Book(ctx, booking.Request{Channel: Channel, ExtID: ext, DoctorID: slot.DoctorID, PatientID: patient,
		BranchID: slot.BranchID, Start: slot.Start, End: slot.End, Comment: "Запись через ЕПГУ (ФЭР)"})
	if err != nil {
		return fail(c.refusalCode(err, OpCreateAppointment))
	}
	c.ix.markBusy(slotID, true)
	if err := c.sessions.remember(ctx, res.AppointmentID, bookedEntry{extID: ext, start: slot.Start, slot: slotID}, c.now()); err != nil {
		// The booking is in the MIS: it is answered. Only a cancellation before the
		// next poll reads it would not find it.
		c.log.Warn("ФЭР: state file: the booking made cannot be remembered", "appointment", res.AppointmentID, "error", err)
	}
	return &createResp{SessionID: session, BookID: res.AppointmentID, Status: Status{Code: statusRecorded, Comment: "Запись создана"},
		SlotID: slotID, VisitTime: convert.FormatTime(local), Room: strings.TrimSpace(slot.Room)}
}

func mustSNILS(s string) string {
	v, _ := convert.SNILS(s)
	return v
}

// refusalCodes are the Status_Code answers for the booking path's refusals.
var refusalCodes = map[string]string{
	booking.CodeSlotTaken:         codeSlotTaken,
	booking.CodeOutsideSchedule:   codeOutsideShift,
	booking.CodeInPast:            codeTooLate,
	booking.CodeOutOfWindow:       codeTooLate,
	booking.CodeDoctorNotBookable: codeUnknownDoctor,
	booking.CodePatientNotFound:   codePatientUnknown,
	booking.CodeNotFound:          codeBookUnknown,
	booking.CodeInvalid:           codeInvalid,
}

// refusalCode turns a booking error into a code and a Russian message for the caller;
// a MIS failure is logged and answered without its Go text.
func (c *Conn) refusalCode(err error, op string) (string, string) {
	var r *booking.Refusal
	if errors.As(err, &r) {
		if code, ok := refusalCodes[r.Code]; ok {
			return code, r.Message
		}
		return codeInvalid, r.Message
	}
	if errors.Is(err, booking.ErrUnsupported) {
		c.log.Error("ФЭР: the MIS profile declares no booking statements", "operation", op, "error", err)
		return codeUnavailable, "Запись и отмена через ЕПГУ не настроены в этой медицинской организации"
	}
	c.log.Error("ФЭР: booking failed", "operation", op, "error", err)
	return codeUnavailable, "МИС временно недоступна, повторите запрос позже"
}

var cancelReasons = map[string]bool{"CANCELED_BY_PATIENT": true, "ERROR_DATA_MIS": true, "RECORD_NOT_CREATED_AT_EPGU": true, "DATA_TRANSFER_ERROR_AT_EPGU": true}

func (c *Conn) cancelAppointment(ctx context.Context, r *request) any {
	var q cancelReq
	if e := r.decode(&q); e != nil {
		return c.errorResponse(r.op, "", e)
	}
	id, reason := strings.TrimSpace(q.BookID), strings.TrimSpace(q.Reason)
	out := func(code, msg string) any {
		if id == "" {
			id = "-"
		}
		return &cancelResp{BookID: id, Code: code, Comment: msg}
	}
	if id == "" {
		return out(codeInvalid, "Не передан Book_Id_Mis")
	}
	if !cancelReasons[reason] {
		return out(codeInvalid, "Неизвестная причина отмены Canceled_Reason: "+nonEmptyOr(reason))
	}
	var start time.Time
	cancelled := false
	c.ix.read(func(*refView) {
		if a := c.ix.appts[id]; a != nil {
			start, cancelled = a.Start, a.Status == mapping.StatusCancelled
		}
	})
	if start.IsZero() {
		be, ok, err := c.sessions.bookedAs(ctx, id)
		if err != nil {
			c.log.Error("ФЭР: state file: bookings made here cannot be read", "error", err)
			return out(codeUnavailable, msgServiceDown)
		}
		if ok {
			start = be.start
		}
	}
	if start.IsZero() {
		return out(codeBookUnknown, "Запись с таким Book_Id_Mis не найдена")
	}
	if cancelled {
		return out(statusCanceled, "Запись уже отменена")
	}
	if c.now().After(c.set.cancelDeadline(start)) {
		return out(codeCancelCutoff, "Срок отмены записи истёк: обратитесь в регистратуру")
	}
	res, err := c.booker().Cancel(ctx, booking.CancelRequest{Channel: Channel, AppointmentID: id,
		Reason: c.set.codes.cancelReason[reason], Comment: "ЕПГУ: " + reason})
	if err != nil {
		return out(c.refusalCode(err, OpCancelAppointment))
	}
	if res.Existing {
		return out(statusCanceled, "Запись уже отменена")
	}
	return out(statusCanceled, "Запись отменена")
}

func (c *Conn) getReferralInfo(r *request) any {
	var q sessionOnlyReq
	if e := r.decode(&q); e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeNotSupported, Message: "Запись по направлениям не поддерживается (referrals not supported)"})
}

func (c *Conn) referralAppointment(r *request) any {
	var q referralAppReq
	if e := r.decode(&q); e != nil {
		return c.errorResponse(r.op, "", e)
	}
	id := strings.TrimSpace(q.BookID)
	if id == "" {
		id = "-"
	}
	return &referralAppResp{BookID: id, Code: codeNotSupported, Comment: "Запись по направлениям не поддерживается (referrals not supported)"}
}
