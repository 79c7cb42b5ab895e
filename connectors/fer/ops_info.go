package fer

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
)

var guidRe = regexp.MustCompile(`^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$`)

const zeroGUID = "00000000-0000-0000-0000-000000000000"

// maxScheduleDays bounds one GetScheduleInfo or GetMOResourceInfo date range.
const maxScheduleDays = 93

func invalid(path, value, msg string) *ErrorType {
	e := &ErrorType{Code: codeInvalid, Message: msg, Validation: &ValidationError{Message: msg, Path: path}}
	if strings.TrimSpace(value) != "" {
		e.Validation.Value = value
	}
	return e
}

func checkSession(s string) *ErrorType {
	if strings.TrimSpace(s) == "" {
		return &ErrorType{Code: codeNoSession, Message: "Не передан Session_ID",
			Validation: &ValidationError{Message: "Элемент Session_ID обязателен", Path: "Session_ID"}}
	}
	if !guidRe.MatchString(strings.TrimSpace(s)) {
		e := invalid("Session_ID", s, "Session_ID должен быть GUID")
		e.Code = codeNoSession
		return e
	}
	return nil
}

// sessioned is a request that carries a Session_ID.
type sessioned interface{ session() string }

func (q *getPatientInfoReq) session() string      { return q.SessionID }
func (q *getMOInfoReq) session() string           { return q.SessionID }
func (q *getServicePostSpecsReq) session() string { return q.SessionID }
func (q *getMOResourceReq) session() string       { return q.SessionID }
func (q *getScheduleReq) session() string         { return q.SessionID }

// open decodes the request into q and checks its Session_ID; non-nil is the error
// answer to send instead.
func (c *Conn) open(r *request, q sessioned) any {
	if e := r.decode(q); e != nil {
		return c.errorResponse(r.op, q.session(), e)
	}
	if e := checkSession(q.session()); e != nil {
		return c.errorResponse(r.op, q.session(), e)
	}
	return nil
}

// parseDate reads an xsd:date (a trailing zone, if any, is ignored: dates are the
// branch's calendar days).
func parseDate(path, s string) (time.Time, *ErrorType) {
	s = strings.TrimSpace(s)
	if len(s) >= 10 {
		if t, err := time.Parse("2006-01-02", s[:10]); err == nil {
			return t, nil
		}
	}
	return time.Time{}, invalid(path, s, "Ожидалась дата в формате ГГГГ-ММ-ДД")
}

// parseTimeOfDay reads an xsd:time as seconds after midnight (zone and fractions ignored).
func parseTimeOfDay(path, s string) (int, *ErrorType) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"15:04:05", "15:04"} {
		if len(s) >= len(layout) {
			if t, err := time.Parse(layout, s[:len(layout)]); err == nil {
				return t.Hour()*3600 + t.Minute()*60 + t.Second(), nil
			}
		}
	}
	if strings.HasPrefix(s, "24:00") {
		return 86400, nil
	}
	return 0, invalid(path, s, "Ожидалось время в формате чч:мм:сс")
}

// dateRange parses Start/End_Date_Range as branch days [from, to] inclusive.
func dateRange(start, end string) (time.Time, time.Time, *ErrorType) {
	from, e := parseDate("Start_Date_Range", start)
	if e != nil {
		return from, from, e
	}
	to, e := parseDate("End_Date_Range", end)
	if e != nil {
		return from, to, e
	}
	if to.Before(from) {
		return from, to, invalid("End_Date_Range", end, "Конец периода раньше его начала")
	}
	if to.Sub(from) > maxScheduleDays*24*time.Hour {
		return from, to, invalid("End_Date_Range", end, fmt.Sprintf("Период длиннее %d дней", maxScheduleDays))
	}
	return from, to, nil
}

// localDay is midnight of the calendar day d in loc.
func localDay(d time.Time, loc *time.Location) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
}

func moOf(v *moView) MO {
	b := v.branch
	addr := strings.TrimSpace(b.Address)
	if addr == "" {
		addr = b.Name
	}
	return MO{MOID: b.ID, MOOID: v.oid, MOName: b.Name, MOAddress: addr, MOPhone: strings.TrimSpace(b.Phone)}
}

// resourceFilter selects doctors by the requested positions or specialty.
type resourceFilter struct {
	posts     map[string]bool
	specialty string
}

func filterOf(posts *ServicePosts, spec *ServiceSpecialty) resourceFilter {
	f := resourceFilter{}
	if posts != nil {
		f.posts = map[string]bool{}
		for _, p := range posts.Posts {
			f.posts[strings.TrimSpace(p.PostID)] = true
		}
	}
	if spec != nil {
		f.specialty = strings.TrimSpace(spec.SpecialtyID)
	}
	return f
}

func (f resourceFilter) match(d *docView) bool {
	if f.posts != nil && !f.posts[d.post] {
		return false
	}
	return f.specialty == "" || f.specialty == d.specialty
}

func (c *Conn) getMOInfo(r *request) any {
	var q getMOInfoReq
	if resp := c.open(r, &q); resp != nil {
		return resp
	}
	f := filterOf(q.ServicePosts, q.ServiceSpecialty)
	var mos []MO
	c.ix.read(func(v *refView) {
		has := map[*moView]bool{}
		for _, d := range v.docs {
			if f.match(d) {
				has[d.mo] = true
			}
		}
		for _, mo := range v.mos {
			if has[mo] {
				mos = append(mos, moOf(mo))
			}
		}
	})
	if len(mos) == 0 {
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeNoResources, Message: "Нет подразделений с врачами, доступными для записи"})
	}
	return &getMOInfoResp{SessionID: q.SessionID, MOList: &moList{MOs: mos}}
}

func (c *Conn) getServicePostSpecs(r *request) any {
	var q getServicePostSpecsReq
	if resp := c.open(r, &q); resp != nil {
		return resp
	}
	id := strings.TrimSpace(q.MOID)
	var specs ServicePostSpecs
	var e *ErrorType
	c.ix.read(func(v *refView) {
		mo := v.byMOID[id]
		if mo == nil {
			mo = v.byOID[id]
		}
		if mo == nil {
			e = &ErrorType{Code: codeUnknownMO, Message: "Подразделение с таким MO_Id не найдено",
				Validation: &ValidationError{Message: "Неизвестный MO_Id", Path: "MO_Id", Value: q.MOID}}
			return
		}
		specs = c.specsOf(v, mo)
	})
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	if len(specs.Posts)+len(specs.Specialties) == 0 {
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeNoResources, Message: "В подразделении нет врачей, доступных для записи"})
	}
	return &getServicePostSpecsResp{SessionID: q.SessionID, Specs: &specs}
}

// specsOf lists the positions and specialties of a branch's doctors, each with the
// services of the doctors' MIS specialties. The caller holds the index read lock.
func (c *Conn) specsOf(v *refView, mo *moView) ServicePostSpecs {
	postSpecs := map[string][]string{} // post code → MIS specialty ids
	specMIS := map[string][]string{}   // federal specialty code → MIS specialty ids
	for _, d := range v.docs {
		if d.mo != mo {
			continue
		}
		postSpecs[d.post] = appendOnce(postSpecs[d.post], d.doc.SpecialtyID)
		specMIS[d.specialty] = appendOnce(specMIS[d.specialty], d.doc.SpecialtyID)
	}
	var out ServicePostSpecs
	for _, p := range sortedStrings(postSpecs) {
		sp := ServicePost{Post: Post{PostID: p}}
		if svc := c.servicesInfo(postSpecs[p]); svc != nil {
			sp.ServicesInfo = svc
		}
		out.Posts = append(out.Posts, sp)
	}
	for _, s := range sortedStrings(specMIS) {
		if svc := c.servicesInfo(specMIS[s]); svc != nil {
			out.Specialties = append(out.Specialties, ServiceSpecialty{SpecialtyID: s, ServicesInfo: svc})
		}
	}
	return out
}

func (c *Conn) servicesInfo(misSpecs []string) *ServicesInfo {
	var info ServicesInfo
	for _, id := range misSpecs {
		for _, s := range c.ix.servicesOf(id) {
			code := c.set.codes.service(s)
			svc := Service{ServiceID: code}
			if code == "" {
				svc = Service{ServiceID: s.ID, AddInfo: &AddInfoServ{InnerID: s.ID, InnerName: s.Name}}
			}
			info.Services = append(info.Services, svc)
		}
	}
	if len(info.Services) == 0 {
		return nil
	}
	return &info
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func sortedStrings[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *Conn) getMOResource(r *request) any {
	var q getMOResourceReq
	if resp := c.open(r, &q); resp != nil {
		return resp
	}
	if q.ServicePosts == nil && q.ServiceSpecialty == nil {
		return c.errorResponse(r.op, q.SessionID, invalid("Service_Posts", "", "Нужен Service_Posts или Service_Specialty"))
	}
	from, to, e := dateRange(q.StartDate, q.EndDate)
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	f := filterOf(q.ServicePosts, q.ServiceSpecialty)
	want := map[string]bool{}
	for _, o := range q.MOOIDs {
		want[strings.TrimSpace(o)] = true
	}
	var list []MOAvailable
	earliest := c.now().Add(c.set.bookingCutoff)
	c.ix.read(func(v *refView) {
		for _, mo := range v.mos {
			if len(want) > 0 && !want[mo.oid] {
				continue
			}
			av := MOAvailable{MO: moOf(mo)}
			for _, d := range v.docs {
				if d.mo == mo && f.match(d) {
					av.Resources = append(av.Resources, Resource{Specialist: specialistOf(d), Dates: c.availableDates(d, from, to, earliest)})
				}
			}
			if len(av.Resources) > 0 {
				list = append(list, av)
			}
		}
	})
	if len(list) == 0 {
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeNoResources, Message: "Нет врачей с такой должностью или специальностью"})
	}
	return &getMOResourceResp{SessionID: q.SessionID, List: &resourceList{Items: list}}
}

func specialistOf(d *docView) Specialist {
	return Specialist{LastName: d.doc.LastName, FirstName: d.doc.FirstName, MiddleName: strings.TrimSpace(d.doc.MiddleName),
		SNILS: d.snils, Post: Post{PostID: d.post}}
}

// availableDates lists the days in [from, to] the doctor has a free slot bookable
// now, as midnight with the branch's offset. The caller holds the read lock.
func (c *Conn) availableDates(d *docView, from, to, earliest time.Time) *availableDates {
	var out []string
	start, end := localDay(from, d.mo.zone), localDay(to, d.mo.zone).AddDate(0, 0, 1)
	if earliest.After(start) {
		start = earliest
	}
	last := ""
	c.ix.freeSlots(d.doc.ID, start, end, func(s *mapping.Slot) bool {
		day := convert.FormatTime(localDay(s.Start.In(d.mo.zone), d.mo.zone))
		if day != last {
			out = append(out, day)
			last = day
		}
		return true
	})
	if len(out) == 0 {
		return nil
	}
	return &availableDates{Dates: out}
}

func (c *Conn) getSchedule(r *request) any {
	var q getScheduleReq
	if resp := c.open(r, &q); resp != nil {
		return resp
	}
	if q.RoomOID != nil && q.SNILS == nil {
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeNotSupported, Message: "Запись в кабинет не поддерживается: укажите СНИЛС врача",
			Validation: &ValidationError{Message: "Расписание кабинетов не ведётся", Path: "Room_OID", Value: *q.RoomOID}})
	}
	if q.SNILS == nil {
		return c.errorResponse(r.op, q.SessionID, invalid("Specialist_SNILS", "", "Нужен Specialist_SNILS"))
	}
	from, to, e := dateRange(q.StartDate, q.EndDate)
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	tFrom, e := parseTimeOfDay("Start_Time_Range", q.StartTime)
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	tTo, e := parseTimeOfDay("End_Time_Range", q.EndTime)
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	var slots []SlotOut
	earliest := c.now().Add(c.set.bookingCutoff)
	c.ix.read(func(v *refView) {
		d, err := scheduleDoctor(v, q)
		if err != nil {
			e = err
			return
		}
		start, end := localDay(from, d.mo.zone), localDay(to, d.mo.zone).AddDate(0, 0, 1)
		if earliest.After(start) {
			start = earliest
		}
		c.ix.freeSlots(d.doc.ID, start, end, func(s *mapping.Slot) bool {
			local := s.Start.In(d.mo.zone)
			if tod := local.Hour()*3600 + local.Minute()*60 + local.Second(); tod < tFrom || tod > tTo {
				return true
			}
			slots = append(slots, SlotOut{SlotID: s.ID, VisitTime: convert.FormatTime(local), Room: strings.TrimSpace(s.Room)})
			return true
		})
	})
	if e != nil {
		return c.errorResponse(r.op, q.SessionID, e)
	}
	if len(slots) == 0 {
		return c.errorResponse(r.op, q.SessionID, &ErrorType{Code: codeNoSlots, Message: "Нет свободного времени для записи в указанный период"})
	}
	return &getScheduleResp{SessionID: q.SessionID, Schedule: &schedule{Slots: slots}}
}

// scheduleDoctor finds the doctor a GetScheduleInfo asks for. The caller holds the lock.
func scheduleDoctor(v *refView, q getScheduleReq) (*docView, *ErrorType) {
	oid := strings.TrimSpace(q.MOOID)
	mo := v.byOID[oid]
	if mo == nil {
		return nil, &ErrorType{Code: codeUnknownMO, Message: "Подразделение с таким MO_OID не найдено",
			Validation: &ValidationError{Message: "Неизвестный MO_OID", Path: "MO_OID", Value: nonEmptyOr(q.MOOID)}}
	}
	snils := strings.TrimSpace(*q.SNILS)
	d := v.bySNILS[snils]
	if d == nil || d.mo != mo {
		return nil, &ErrorType{Code: codeUnknownDoctor, Message: "В подразделении нет врача с таким СНИЛС, доступного для записи",
			Validation: &ValidationError{Message: "Неизвестный СНИЛС врача", Path: "Specialist_SNILS", Value: nonEmptyOr(snils)}}
	}
	if q.ServicePost != nil && strings.TrimSpace(q.ServicePost.Post.PostID) != d.post {
		return nil, &ErrorType{Code: codeUnknownDoctor, Message: "Врач не занимает указанную должность",
			Validation: &ValidationError{Message: "Должность не совпадает", Path: "Service_Post/Post/Post_Id", Value: nonEmptyOr(q.ServicePost.Post.PostID)}}
	}
	if q.ServiceSpecialty != nil && strings.TrimSpace(q.ServiceSpecialty.SpecialtyID) != d.specialty {
		return nil, &ErrorType{Code: codeUnknownDoctor, Message: "Врач не ведёт приём по указанной специальности",
			Validation: &ValidationError{Message: "Специальность не совпадает", Path: "Service_Specialty/Specialty_Id", Value: nonEmptyOr(q.ServiceSpecialty.SpecialtyID)}}
	}
	return d, nil
}

func nonEmptyOr(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(пусто)"
	}
	return s
}
