package fer

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
)

// entities the connector takes as events and reads back from the state store.
var entities = []string{
	mapping.EntityBranch, mapping.EntitySpecialty, mapping.EntityDoctor,
	mapping.EntityService, mapping.EntitySlot, mapping.EntityAppointment,
}

// index is the in-memory view of the synced state every request is answered from. It
// is loaded from the state store when serving starts and kept current by the events
// the engine delivers (and by this connector's own bookings), so no request queries
// the MIS for the schedule.
type index struct {
	codes *codes

	mu       sync.RWMutex
	loaded   bool
	branches map[string]*mapping.Branch
	specs    map[string]*mapping.Specialty
	doctors  map[string]*mapping.Doctor
	services map[string]*mapping.Service
	slots    map[string]*mapping.Slot   // by Slot_Id
	byDoctor map[string][]*mapping.Slot // sorted by Start
	appts    map[string]*mapping.Appointment

	dirty bool // reference data changed: derived views are rebuilt on next read
	view  *refView

	loading bool               // load runs: delivered events are also kept in pending
	pending []connectors.Event // applied again on top of what load read
}

// refView is what the reference data implies for ФЭР: the departments with an OID and
// the doctors that can be offered, with their codes, and what was left out and why.
type refView struct {
	mos      []*moView
	byOID    map[string]*moView
	byMOID   map[string]*moView
	bySNILS  map[string]*docView
	docs     []*docView // sorted by branch, name
	problems []string
}

type moView struct {
	branch *mapping.Branch
	oid    string
	zone   *time.Location
}

type docView struct {
	doc       *mapping.Doctor
	mo        *moView
	snils     string
	post      string // position code (Post_Id)
	specialty string // federal specialty code (Specialty_Id)
}

func newIndex(c *codes) *index {
	ix := &index{codes: c}
	ix.reset()
	return ix
}

func (ix *index) reset() {
	ix.branches = map[string]*mapping.Branch{}
	ix.specs = map[string]*mapping.Specialty{}
	ix.doctors = map[string]*mapping.Doctor{}
	ix.services = map[string]*mapping.Service{}
	ix.slots = map[string]*mapping.Slot{}
	ix.byDoctor = map[string][]*mapping.Slot{}
	ix.appts = map[string]*mapping.Appointment{}
	ix.dirty = true
}

// load reads every kept record from the state store, replacing what the index holds.
func (ix *index) load(ctx context.Context, host connectors.Host) error {
	ix.mu.Lock()
	ix.loading, ix.pending = true, nil
	ix.mu.Unlock()
	defer func() {
		ix.mu.Lock()
		ix.loading, ix.pending = false, nil
		ix.mu.Unlock()
	}()
	fresh := newIndex(ix.codes)
	for _, ent := range entities {
		err := host.Records(ctx, ent, func(key string, data json.RawMessage) error {
			if err := fresh.apply(ent, connectors.OpUpsert, key, data); err != nil {
				host.Logger().Warn("ФЭР: a synced record is left out", "entity", ent, "key", key, "error", err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading synced %s records: %w", ent, err)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.branches, ix.specs, ix.doctors, ix.services = fresh.branches, fresh.specs, fresh.doctors, fresh.services
	ix.slots, ix.byDoctor, ix.appts = fresh.slots, fresh.byDoctor, fresh.appts
	// Events delivered while the store was read may be newer than what was read: apply
	// them again, in their order (an older one is followed by the newer one anyway).
	for _, ev := range ix.pending {
		_ = ix.applyEvent(ev)
	}
	ix.dirty, ix.loaded = true, true
	return nil
}

// Apply applies one delivered event under the lock.
func (ix *index) Apply(ev connectors.Event) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := ix.applyEvent(ev)
	if err == nil && ix.loading {
		ix.pending = append(ix.pending, ev)
	}
	return err
}

// applyEvent applies ev; the caller holds the lock.
func (ix *index) applyEvent(ev connectors.Event) error {
	return ix.apply(ev.Entity, ev.Op, ev.Key, ev.Data)
}

// apply changes one record; the caller holds the lock (or owns the index).
func (ix *index) apply(entity, op, key string, data json.RawMessage) error {
	del := op == connectors.OpDelete
	switch entity {
	case mapping.EntityBranch:
		return applyRef(ix, ix.branches, key, data, del)
	case mapping.EntitySpecialty:
		return applyRef(ix, ix.specs, key, data, del)
	case mapping.EntityDoctor:
		return applyRef(ix, ix.doctors, key, data, del)
	case mapping.EntityService:
		return applyRef(ix, ix.services, key, data, del)
	case mapping.EntityAppointment:
		if del {
			delete(ix.appts, key)
			return nil
		}
		a := &mapping.Appointment{}
		if err := json.Unmarshal(data, a); err != nil {
			return fmt.Errorf("appointment %s: %w", key, err)
		}
		ix.appts[key] = a
	case mapping.EntitySlot:
		return ix.applySlot(key, data, del)
	}
	return nil
}

func applyRef[T any](ix *index, m map[string]*T, key string, data json.RawMessage, del bool) error {
	ix.dirty = true
	if del {
		delete(m, key)
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("record %s: %w", key, err)
	}
	m[key] = v
	return nil
}

func (ix *index) applySlot(key string, data json.RawMessage, del bool) error {
	old := ix.slots[key]
	if old != nil {
		ix.byDoctor[old.DoctorID] = removeSlot(ix.byDoctor[old.DoctorID], old)
		delete(ix.slots, key)
	}
	if del {
		return nil
	}
	s := &mapping.Slot{}
	if err := json.Unmarshal(data, s); err != nil {
		return fmt.Errorf("slot %s: %w", key, err)
	}
	ix.slots[key] = s
	list := ix.byDoctor[s.DoctorID]
	i := sort.Search(len(list), func(i int) bool { return !list[i].Start.Before(s.Start) })
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = s
	ix.byDoctor[s.DoctorID] = list
	return nil
}

func removeSlot(list []*mapping.Slot, s *mapping.Slot) []*mapping.Slot {
	for i, x := range list {
		if x == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// markBusy marks a slot taken right after this connector booked it, so the next
// GetScheduleInfo no longer offers it even before the engine's event arrives.
func (ix *index) markBusy(slotID string, busy bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if s := ix.slots[slotID]; s != nil {
		c := *s
		c.Free = !busy
		ix.slots[slotID] = &c
		list := ix.byDoctor[s.DoctorID]
		for i, x := range list {
			if x == s {
				list[i] = &c
			}
		}
	}
}

// read runs fn with the derived reference view under the read lock.
func (ix *index) read(fn func(v *refView)) {
	ix.mu.RLock()
	if !ix.dirty {
		defer ix.mu.RUnlock()
		fn(ix.view)
		return
	}
	ix.mu.RUnlock()
	ix.mu.Lock()
	if ix.dirty {
		ix.view = ix.derive()
		ix.dirty = false
	}
	ix.mu.Unlock()
	ix.read(fn)
}

// derive builds the reference view; the caller holds the write lock.
func (ix *index) derive() *refView {
	v := &refView{byOID: map[string]*moView{}, byMOID: map[string]*moView{}, bySNILS: map[string]*docView{}}
	for _, id := range sortedKeys(ix.branches) {
		b := ix.branches[id]
		oid := ix.codes.moOID(b)
		if oid == "" {
			v.problems = append(v.problems, fmt.Sprintf("филиал %s «%s» не предлагается: нет OID ФРМО (задайте mo_oid.%s в настройках или MO_OID в МИС)", b.ID, b.Name, b.ID))
			continue
		}
		zone, err := convert.LoadZone(b.TimeZone)
		if err != nil {
			v.problems = append(v.problems, fmt.Sprintf("филиал %s «%s» не предлагается: часовой пояс %q не распознан", b.ID, b.Name, b.TimeZone))
			continue
		}
		mo := &moView{branch: b, oid: oid, zone: zone}
		v.mos = append(v.mos, mo)
		v.byOID[oid] = mo
		v.byMOID[b.ID] = mo
	}
	// Doctors left out for the same reason make one line (one code to set, say).
	var reasons []string
	who := map[string][]string{}
	for _, id := range sortedKeys(ix.doctors) {
		d := ix.doctors[id]
		if dv, reason := ix.doctorView(v, d); reason != "" {
			if who[reason] == nil {
				reasons = append(reasons, reason)
			}
			who[reason] = append(who[reason], fmt.Sprintf("%s (%s)", d.ID, strings.TrimSpace(d.LastName+" "+d.FirstName+" "+d.MiddleName)))
		} else if dv != nil {
			v.docs = append(v.docs, dv)
			v.bySNILS[dv.snils] = dv
		}
	}
	for _, r := range reasons {
		verb := "не предлагаются врачи"
		if len(who[r]) == 1 {
			verb = "не предлагается врач"
		}
		v.problems = append(v.problems, fmt.Sprintf("%s: %s %s", r, verb, strings.Join(who[r], ", ")))
	}
	return v
}

// doctorView is a doctor as ФЭР sees it, or the reason the doctor is left out (nil, ""
// for a doctor closed to online booking: that is the clinic's choice).
func (ix *index) doctorView(v *refView, d *mapping.Doctor) (*docView, string) {
	if !d.OnlineBooking {
		return nil, ""
	}
	snils, err := convert.SNILS(d.SNILS)
	if err != nil || snils == "" {
		return nil, "нет действительного СНИЛС в МИС"
	}
	mo := v.byMOID[d.BranchID]
	if mo == nil {
		return nil, ""
	}
	if other := v.bySNILS[snils]; other != nil {
		return nil, fmt.Sprintf("тот же СНИЛС, что у врача %s", other.doc.ID)
	}
	spec, err := ix.codes.specialty(d.SpecialtyID, ix.specs[d.SpecialtyID])
	if err != nil {
		return nil, err.Error()
	}
	post, err := ix.codes.post(d.SpecialtyID)
	if err != nil {
		return nil, err.Error()
	}
	return &docView{doc: d, mo: mo, snils: snils, post: post, specialty: spec}, ""
}

func sortedKeys[T any](m map[string]*T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) < len(out[j]) // numeric MIS ids in their natural order
		}
		return out[i] < out[j]
	})
	return out
}

// freeSlots returns the doctor's free slots starting in [from, to), in order. The
// caller holds the read lock.
func (ix *index) freeSlots(doctorID string, from, to time.Time, fn func(s *mapping.Slot) bool) {
	list := ix.byDoctor[doctorID]
	i := sort.Search(len(list), func(i int) bool { return !list[i].Start.Before(from) })
	for ; i < len(list) && list[i].Start.Before(to); i++ {
		if list[i].Free && !fn(list[i]) {
			return
		}
	}
}

// servicesOf lists the bookable services of a specialty, sorted by id.
func (ix *index) servicesOf(specialtyID string) []*mapping.Service {
	var out []*mapping.Service
	for _, id := range sortedKeys(ix.services) {
		s := ix.services[id]
		if s.SpecialtyID == specialtyID && s.OnlineBooking && s.Mode != mapping.ModeOnline {
			out = append(out, s)
		}
	}
	return out
}
