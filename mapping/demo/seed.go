package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// Sizes says how big a demo MIS to seed.
type Sizes struct {
	Branches     int // clinic branches (FILIALS)
	Doctors      int // doctors with a schedule (DOCTORS)
	Patients     int // patient cards (CLIENTS)
	Appointments int // appointments (SCHEDULE), spread over the shifts
	// Days is the span of the doctors' shifts around Today: Days/2 days back and the rest
	// ahead (60 = 30 back, 30 ahead). When Appointments do not fit into that span the
	// shifts reach further back into history. 0 means 60.
	Days int
	// Today is the clinic's current date (its wall-clock date is used); zero means the
	// local date now. Seeded MODIFYDATE values never pass Today 07:00, nor an hour
	// before Today when it carries a clock time.
	Today time.Time
	// Seed makes the data deterministic: the same Sizes give the same rows.
	Seed int64
	// BadRows adds a handful of deliberately broken rows (see Stats.Bad) on top of the
	// counts above, for the reader's skip path.
	BadRows bool
	// Replace lets Init drop and recreate demo tables that already exist.
	Replace bool
}

// DefaultSizes is the demo MIS of `medsync demo init`: 3 branches, 40 doctors, 5000
// patients, 8000 appointments over 60 days of shifts, with the bad rows.
func DefaultSizes() Sizes {
	y, m, d := time.Now().Date()
	return Sizes{Branches: 3, Doctors: 40, Patients: 5000, Appointments: 8000, Days: 60,
		Today: time.Date(y, m, d, 0, 0, 0, 0, time.Local), Seed: 1, BadRows: true}
}

// Stats tells what Seed wrote. Row counts include the bad rows.
type Stats struct {
	Branches, Specialities, Doctors, Services, Patients   int
	Shifts, Appointments, AppointmentServices, DelReasons int
	// From and Through are the first and last days that have shifts.
	From, Through time.Time
	// Bad lists the deliberately broken rows.
	Bad     []BadRow
	Elapsed time.Duration
}

// BadRow is one deliberately broken row of the demo MIS.
type BadRow struct {
	Table   string // e.g. "SCHEDULE"
	Key     string // its primary key
	Problem string
}

// IsBad reports whether the row of table with key is one of the deliberately bad rows.
func (s Stats) IsBad(table, key string) bool {
	for _, b := range s.Bad {
		if b.Table == table && b.Key == key {
			return true
		}
	}
	return false
}

// Seeder adds data of extra tables (from schema part files) after the core data.
type Seeder func(ctx context.Context, db *sql.DB, dialect string, sizes Sizes) error

var (
	seedersMu sync.Mutex
	seeders   []Seeder
)

// RegisterSeeder adds fn to the seeders Seed runs, in registration order, after the core
// tables are seeded and committed. Packages that add schema part files call it in init().
func RegisterSeeder(fn func(ctx context.Context, db *sql.DB, dialect string, sizes Sizes) error) {
	seedersMu.Lock()
	defer seedersMu.Unlock()
	seeders = append(seeders, fn)
}

func (s *Sizes) normalize() error {
	if s.Branches < 0 || s.Doctors < 0 || s.Patients < 0 || s.Appointments < 0 || s.Days < 0 {
		return fmt.Errorf("demo MIS: sizes must not be negative: %+v", *s)
	}
	if s.Days == 0 {
		s.Days = 60
	}
	if s.Today.IsZero() {
		s.Today = time.Now()
	}
	if s.Doctors > 0 && s.Branches == 0 {
		return errors.New("demo MIS: doctors need at least one branch (Branches >= 1)")
	}
	if s.Appointments > 0 && (s.Doctors == 0 || s.Patients == 0) {
		return errors.New("demo MIS: appointments need at least one doctor and one patient (Doctors >= 1, Patients >= 1)")
	}
	return nil
}

// Shift times, minutes after midnight.
const (
	morningBeg, morningEnd = 8 * 60, 14 * 60
	eveningBeg, eveningEnd = 14 * 60, 20 * 60
	breakOffset, breakLen  = 3 * 60, 30 // break 3 h after the shift starts
	shiftLen               = 6 * 60
	nowMinutes             = 7 * 60 // seeded MODIFYDATE values never pass Today 07:00
)

type doctor struct {
	id, branch, spec int
	enabled          bool
	slotMin          int // effective slot length
	pattern          int
	hasBreak         bool
	room             string
	slots            []int // slot starts, minutes after the shift start
}

// shift reports whether the doctor works on OLE day d and whether it is the evening shift.
func (d *doctor) shift(day, today int) (works, evening bool) {
	if !d.enabled && day >= today {
		return false, false
	}
	wd := (day + 6) % 7 // 0 = Sunday; OLE day 0 was a Saturday
	switch d.pattern {
	case 0: // Mon–Fri mornings
		return wd >= 1 && wd <= 5, false
	case 1: // Mon–Fri evenings
		return wd >= 1 && wd <= 5, true
	case 2: // Mon, Wed, Fri mornings; Tue, Thu evenings
		return wd >= 1 && wd <= 5, wd == 2 || wd == 4
	case 3: // Tue–Sat mornings
		return wd >= 2 && wd <= 6, false
	case 4: // two days on, two off, morning and evening weeks in turn
		return day%4 < 2, (day/4)%2 == 1
	default: // part-timer: Mon, Thu evenings, Sat morning
		return wd == 1 || wd == 4 || wd == 6, wd != 6
	}
}

func slotStarts(slotMin int, hasBreak bool) []int {
	var out []int
	for t := 0; t+slotMin <= shiftLen; {
		if hasBreak && t < breakOffset+breakLen && t+slotMin > breakOffset {
			t = breakOffset + breakLen
			continue
		}
		out = append(out, t)
		t += slotMin
	}
	return out
}

// Seed fills the empty demo MIS tables of db (created by CreateSchema) with realistic,
// deterministic data of the given sizes, in one transaction, then runs the seeders
// registered with RegisterSeeder.
func Seed(ctx context.Context, db *sql.DB, dialect string, sizes Sizes) (Stats, error) {
	start := time.Now()
	var st Stats
	if err := checkDialect(dialect); err != nil {
		return st, err
	}
	if err := sizes.normalize(); err != nil {
		return st, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return st, fmt.Errorf("demo MIS: connecting to the database: %w", err)
	}
	defer conn.Close()
	if dialect == SQLite {
		var sync string
		if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			return st, fmt.Errorf("demo MIS: reading PRAGMA synchronous: %w", err)
		}
		for _, p := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-65536"} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				return st, fmt.Errorf("demo MIS: %s: %w", p, err)
			}
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous="+sync) //nolint:errcheck // best effort
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA cache_size=-2000")  //nolint:errcheck // best effort
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("demo MIS: starting the seeding transaction: %w", err)
	}
	s := &seeder{ctx: ctx, tx: tx, dialect: dialect, sz: sizes, st: &st,
		r: rand.New(rand.NewPCG(uint64(sizes.Seed), 0x6d656473796e63))}
	if err := s.run(); err != nil {
		tx.Rollback() //nolint:errcheck // the seeding error is what matters
		return st, err
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("demo MIS: committing the seeded data: %w", err)
	}
	conn.Close()
	if dialect == Firebird {
		if err := syncGenerators(ctx, db); err != nil {
			return st, err
		}
	}
	seedersMu.Lock()
	extra := append([]Seeder(nil), seeders...)
	seedersMu.Unlock()
	for i, fn := range extra {
		if err := fn(ctx, db, dialect, sizes); err != nil {
			return st, fmt.Errorf("demo MIS: registered seeder #%d: %w", i+1, err)
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

type seeder struct {
	ctx     context.Context
	tx      *sql.Tx
	dialect string
	sz      Sizes
	st      *Stats
	r       *rand.Rand

	today   int     // OLE day of Today
	now     float64 // OLE date-time seeded MODIFYDATE values never pass
	doctors []doctor
	specSrv [][]int // clinic visit services (first, repeat) per specialty index
	specExt [][]int // other services per specialty index
	common  []int
}

func (s *seeder) ins(table string, cols ...string) *inserter {
	return newInserter(s.ctx, s.tx, s.dialect, table, cols...)
}

// capNow keeps a MODIFYDATE from passing the seeding "now".
func (s *seeder) capNow(v float64) float64 {
	if v > s.now {
		return s.now - s.r.Float64()*0.3
	}
	return v
}

func nullStr(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (s *seeder) run() error {
	s.today = oleDay(s.sz.Today)
	s.now = float64(s.today) + minutesFrac(nowMinutes)
	if t := s.sz.Today; t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
		// Today with a clock time before 08:00 (a run just after midnight): Today
		// 07:00 would lie in its future, and every seeded row would look changed a
		// moment ago. The rows stay an hour before it instead.
		if c := oleDateTime(t) - minutesFrac(60); c < s.now {
			s.now = c
		}
	}
	steps := []func() error{s.reference, s.doctorRows, s.patientRows, s.schedule}
	for _, step := range steps {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("demo MIS: seeding interrupted: %w", err)
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) reference() error {
	in := s.ins("DELREASONS", "REASON_ID", "TEXT")
	for i, t := range delReasons {
		if err := in.add(int64(i+1), t); err != nil {
			return err
		}
	}
	if err := in.flush(); err != nil {
		return err
	}
	s.st.DelReasons = in.count

	in = s.ins("FILIALS", "FILIAL_ID", "NAME", "ADDRESS", "PHONE", "TZ", "MO_OID", "ENABLED")
	for i := 0; i < s.sz.Branches; i++ {
		b := branchList[i%len(branchList)]
		name := b.name
		if i >= len(branchList) {
			name = fmt.Sprintf("%s, корпус %d", b.name, i/len(branchList)+1)
		}
		if err := in.add(int64(i+1), name, b.address, b.phone, nullStr(b.tz), nullStr(b.oid), int64(1)); err != nil {
			return err
		}
	}
	if err := in.flush(); err != nil {
		return err
	}
	s.st.Branches = in.count

	in = s.ins("SPECIALITIES", "SPEC_ID", "NAME", "CODE")
	for i, sp := range specList {
		if err := in.add(int64(i+1), sp.name, nullStr(sp.code)); err != nil {
			return err
		}
	}
	if err := in.flush(); err != nil {
		return err
	}
	s.st.Specialities = in.count

	in = s.ins("SERVICES", "SERV_ID", "NAME", "CODE", "SPEC_ID", "PRICE", "DURATION", "ONLINE_MODE", "PREPAY", "SHOW_ONLINE", "ENABLED")
	id := 0
	add := func(spec int, sv serviceData, enabled bool) (int, error) {
		id++
		var specID, dur, prepay any
		if spec >= 0 {
			specID = int64(spec + 1)
		}
		if sv.duration > 0 {
			dur = int64(sv.duration)
		}
		if sv.online {
			prepay = sv.price
		}
		return id, in.add(int64(id), sv.name, sv.code, specID, sv.price, dur, flag(sv.online), prepay, flag(sv.showOnline && enabled), flag(enabled))
	}
	s.specSrv = make([][]int, len(specList))
	s.specExt = make([][]int, len(specList))
	for i, sp := range specList {
		p := specPrices[i]
		first, err := add(i, serviceData{"Приём (осмотр, консультация) " + sp.gen + " первичный", sp.nmu + ".001", p, 30, false, true}, true)
		if err != nil {
			return err
		}
		repeat, err := add(i, serviceData{"Приём (осмотр, консультация) " + sp.gen + " повторный", sp.nmu + ".002", math.Round(p*0.8/50) * 50, 20, false, true}, true)
		if err != nil {
			return err
		}
		s.specSrv[i] = []int{first, repeat}
		if onlineSpecs[i] {
			if _, err := add(i, serviceData{"Консультация " + sp.gen + " онлайн (телемедицина)", "ТМК-" + sp.nmu, p, 30, true, true}, true); err != nil {
				return err
			}
		}
		for _, ex := range sp.extra {
			eid, err := add(i, ex, true)
			if err != nil {
				return err
			}
			s.specExt[i] = append(s.specExt[i], eid)
		}
	}
	if _, err := add(0, serviceData{"Приём терапевта (прайс 2019 г.)", "B01.047.001-19", 1100, 30, false, false}, false); err != nil {
		return err
	}
	for _, c := range commonServices {
		cid, err := add(-1, c, true)
		if err != nil {
			return err
		}
		s.common = append(s.common, cid)
	}
	if err := in.flush(); err != nil {
		return err
	}
	s.st.Services = in.count
	return nil
}

func (s *seeder) doctorRows() error {
	r := s.r
	// Specialty of each doctor: every specialty once, then by weight.
	var weighted []int
	for i, sp := range specList {
		for j := 0; j < sp.weight; j++ {
			weighted = append(weighted, i)
		}
	}
	in := s.ins("DOCTORS", "DOCT_ID", "FILIAL_ID", "SPEC_ID", "LASTNAME", "FIRSTNAME", "MIDNAME", "SNILS", "ENABLED", "HIDEINTALONS", "SLOT_MIN", "MODIFYDATE")
	s.doctors = make([]doctor, s.sz.Doctors)
	for i := range s.doctors {
		d := &s.doctors[i]
		d.id = i + 1
		d.branch = i%s.sz.Branches + 1
		if i < len(specList) {
			d.spec = i
		} else {
			d.spec = weighted[r.IntN(len(weighted))]
		}
		d.enabled = i%15 != 14
		d.pattern = r.IntN(6)
		d.hasBreak = r.IntN(3) == 0
		d.room = strconv.Itoa((1+r.IntN(3))*100 + 1 + r.IntN(30))
		var slotMin any
		switch {
		case specList[d.spec].name == "Стоматолог-терапевт":
			d.slotMin = 60
		default:
			d.slotMin = []int{0, 15, 20, 30, 30, 40, 0}[r.IntN(7)]
		}
		if d.slotMin == 0 {
			d.slotMin = 30 // SLOT_MIN NULL means 30
		} else {
			slotMin = int64(d.slotMin)
		}
		d.slots = slotStarts(d.slotMin, d.hasBreak)
		p := randomPerson(r)
		hide := i%8 == 5
		mod := s.capNow(float64(s.today-r.IntN(700)) + r.Float64())
		if err := in.add(int64(d.id), int64(d.branch), int64(d.spec+1), p.last, p.first, p.mid, randomSNILS(r),
			flag(d.enabled), flag(hide), slotMin, mod); err != nil {
			return err
		}
	}
	if s.sz.BadRows && s.sz.Doctors > 0 {
		id := s.sz.Doctors + 1
		snils := badSNILS(r)
		if err := in.add(int64(id), int64(1), int64(1), "Ошибкин", "Степан", "Игоревич", snils,
			int64(1), int64(0), nil, s.now-1); err != nil {
			return err
		}
		s.st.Bad = append(s.st.Bad, BadRow{"DOCTORS", strconv.Itoa(id), "SNILS " + snils + " fails the checksum"})
	}
	if err := in.flush(); err != nil {
		return err
	}
	s.st.Doctors = in.count
	return nil
}

func (s *seeder) patientRows() error {
	r := s.r
	in := s.ins("CLIENTS", "PCODE", "CARDNUM", "LASTNAME", "FIRSTNAME", "MIDNAME", "BDATE", "GENDER", "PHONE1", "EMAIL",
		"SNILS", "POLIS", "SMS_AGREE", "EMAIL_AGREE", "DELETED", "LINK_REQUEST", "MODIFYDATE")
	for i := 1; i <= s.sz.Patients; i++ {
		p := randomPerson(r)
		var gender, mid, phone, email, snils, polis any
		switch x := r.IntN(100); {
		case x < 3:
			gender = nil
		case x < 4:
			gender = int64(0)
		case p.male:
			gender = int64(1)
		default:
			gender = int64(2)
		}
		if r.IntN(25) != 0 {
			mid = p.mid
		}
		age := 18 + r.IntN(73)
		if r.IntN(100) < 15 {
			age = r.IntN(18)
		}
		bdate := float64(s.today - age*365 - age/4 - r.IntN(365))
		if r.IntN(100) < 88 {
			phone = randomPhone(r)
		}
		if r.IntN(100) < 30 {
			email = randomEmail(r, p)
		}
		if r.IntN(100) < 55 {
			snils = randomSNILS(r)
		}
		if r.IntN(100) < 70 {
			polis = randomPolis(r)
		}
		sms := phone != nil && r.IntN(10) < 7
		mailOK := email != nil && r.IntN(10) < 6
		deleted := r.IntN(100) == 0
		link := !deleted && r.IntN(50) == 0
		regYear := s.sz.Today.Year() - r.IntN(12)
		card := fmt.Sprintf("%d-%05d", regYear, i)
		mod := s.capNow(float64(s.today-r.IntN(1500)) + 0.33 + r.Float64()*0.5)
		if err := in.add(int64(i), card, p.last, p.first, mid, bdate, gender, phone, email, snils, polis,
			flag(sms), flag(mailOK), flag(deleted), flag(link), mod); err != nil {
			return err
		}
	}
	if s.sz.BadRows {
		bad := []struct {
			last, first, mid any
			bdate            any
			phone, email     any
			problem          string
		}{
			{nil, nil, nil, nil, "89270001122", nil, "no name and no birth date"},
			{"Сорокина", "Вера", "Павловна", float64(s.today - 30000), "позвонить маме", nil, "PHONE1 is not a phone number: позвонить маме"},
			{"Иванов", "Пётр", "Сергеевич", float64(s.today - 15000), nil, "ivanov@", "EMAIL is not an address: ivanov@"},
		}
		if s.dialect == SQLite {
			cp, err := charmap.Windows1251.NewEncoder().String("Петрова")
			if err != nil {
				return fmt.Errorf("demo MIS: encoding the Windows-1251 bad row: %w", err)
			}
			bad = append(bad, struct {
				last, first, mid any
				bdate            any
				phone, email     any
				problem          string
			}{cp, "Анна", "Ивановна", float64(s.today - 20000), "+7 917 000-11-22", nil, "LASTNAME holds Windows-1251 bytes, not UTF-8"})
		}
		for j, b := range bad {
			id := s.sz.Patients + 1 + j
			if err := in.add(int64(id), fmt.Sprintf("БР-%d", j+1), b.last, b.first, b.mid, b.bdate, nil, b.phone, b.email,
				nil, nil, int64(0), int64(0), int64(0), int64(0), s.now-0.5); err != nil {
				return err
			}
			s.st.Bad = append(s.st.Bad, BadRow{"CLIENTS", strconv.Itoa(id), b.problem})
		}
	}
	if err := in.flush(); err != nil {
		return err
	}
	s.st.Patients = in.count
	return nil
}

// capacity is the number of appointment slots of all shifts on OLE day d.
func (s *seeder) capacity(d int) int {
	n := 0
	for i := range s.doctors {
		if ok, _ := s.doctors[i].shift(d, s.today); ok {
			n += len(s.doctors[i].slots)
		}
	}
	return n
}

// schedule writes shifts and appointments. The future (Today on) is filled sparsely,
// the past densely; when the appointments do not fit, the shifts reach further back.
func (s *seeder) schedule() error {
	if len(s.doctors) == 0 {
		return nil
	}
	back := s.sz.Days / 2
	from, end := s.today-back, s.today+s.sz.Days-back
	capFuture, capPast := 0, 0
	for d := s.today; d < end; d++ {
		capFuture += s.capacity(d)
	}
	for d := from; d < s.today; d++ {
		capPast += s.capacity(d)
	}
	n := s.sz.Appointments
	nFuture := 0
	if end > s.today {
		share := float64(end-s.today) / float64(end-from)
		nFuture = min(int(math.Round(float64(n)*share*0.7)), capFuture/2)
	}
	nPast := n - nFuture
	for float64(capPast)*0.8 < float64(nPast) {
		for i := 0; i < 7; i++ {
			from--
			capPast += s.capacity(from)
		}
		if from < 2 {
			return fmt.Errorf("demo MIS: %d appointments do not fit into the shifts of %d doctors", n, len(s.doctors))
		}
	}
	s.st.From, s.st.Through = dayFromOLE(from), dayFromOLE(end-1)

	shifts := s.ins("DOCTSHIFT", "SHIFT_ID", "DOCT_ID", "FILIAL_ID", "WDATE", "BEGHOUR", "ENDHOUR", "BREAK_BEG", "BREAK_END", "ROOM", "MODIFYDATE")
	appts := s.ins("SCHEDULE", "SCHEDID", "PCODE", "DOCT_ID", "FILIAL_ID", "WDATE", "BHOUR", "EHOUR", "STATUS", "DELETED",
		"DEL_REASON_ID", "SOURCE", "ROOM", "COMMENT", "EXT_ID", "MODIFYDATE")
	servs := s.ins("SCHEDSERV", "SCHEDID", "SERV_ID")
	r := s.r
	shiftID, apptID := 0, 0
	remPast, needPast := capPast, nPast
	remFuture, needFuture := capFuture, nFuture
	for d := from; d < end; d++ {
		if d%64 == 0 {
			if err := s.ctx.Err(); err != nil {
				return fmt.Errorf("demo MIS: seeding interrupted: %w", err)
			}
		}
		past := d < s.today
		for i := range s.doctors {
			doc := &s.doctors[i]
			works, evening := doc.shift(d, s.today)
			if !works {
				continue
			}
			beg := morningBeg
			if evening {
				beg = eveningBeg
			}
			shiftID++
			var bb, be any
			if doc.hasBreak {
				bb, be = minutesFrac(beg+breakOffset), minutesFrac(beg+breakOffset+breakLen)
			}
			smod := s.capNow(float64(d-28-r.IntN(5)) + 0.4 + r.Float64()*0.3)
			if err := shifts.add(int64(shiftID), int64(doc.id), int64(doc.branch), float64(d), minutesFrac(beg), minutesFrac(beg+shiftLen),
				bb, be, doc.room, smod); err != nil {
				return err
			}
			for _, off := range doc.slots {
				// Selection sampling: exactly need of rem slots get picked.
				var pick bool
				if past {
					pick = r.IntN(remPast) < needPast
					remPast--
					if pick {
						needPast--
					}
				} else {
					pick = r.IntN(remFuture) < needFuture
					remFuture--
					if pick {
						needFuture--
					}
				}
				if !pick {
					continue
				}
				apptID++
				if err := s.appointment(appts, servs, apptID, doc, d, beg+off); err != nil {
					return err
				}
			}
		}
	}
	if s.sz.BadRows {
		doc := &s.doctors[0]
		bad := []struct {
			day        int
			bmin, emin int
			problem    string
		}{
			{0, 9 * 60, 9*60 + 30, "WDATE is 0 (1899-12-30)"},
			{s.today + 1, 10*60 + 30, 10 * 60, "EHOUR 10:00 is before BHOUR 10:30"},
		}
		var pcode any
		if s.sz.Patients > 0 {
			pcode = int64(1)
		}
		for _, b := range bad {
			apptID++
			if err := appts.add(int64(apptID), pcode, int64(doc.id), int64(doc.branch), float64(b.day), minutesFrac(b.bmin), minutesFrac(b.emin),
				int64(0), int64(0), nil, int64(0), doc.room, nil, nil, s.now-0.25); err != nil {
				return err
			}
			if err := servs.add(int64(apptID), int64(s.specSrv[doc.spec][0])); err != nil {
				return err
			}
			s.st.Bad = append(s.st.Bad, BadRow{"SCHEDULE", strconv.Itoa(apptID), b.problem})
		}
	}
	for _, in := range []*inserter{shifts, appts, servs} {
		if err := in.flush(); err != nil {
			return err
		}
	}
	s.st.Shifts, s.st.Appointments, s.st.AppointmentServices = shifts.count, appts.count, servs.count
	return nil
}

func (s *seeder) appointment(appts, servs *inserter, id int, doc *doctor, day, startMin int) error {
	r := s.r
	past := day < s.today
	var pcode any = int64(1 + r.IntN(s.sz.Patients))
	var comment, extID, reason, room any
	if !past && day <= s.today+2 && r.IntN(40) == 0 {
		pcode = nil // walk-in, card not made yet
		comment = "Без карты, оформить при приходе"
	} else if r.IntN(10) == 0 {
		comment = appointmentComments[r.IntN(len(appointmentComments))]
	}
	deleted := r.IntN(100) < 8
	if deleted {
		reason = int64(1 + r.IntN(len(delReasons)))
	}
	status := int64(0)
	if past && !deleted {
		switch x := r.IntN(100); {
		case x < 84:
			status = 1
		case x < 94:
			status = 2
		}
	}
	var source int64
	switch x := r.IntN(100); {
	case x < 45:
		source = 0
	case x < 75:
		source = 1
	case x < 95:
		source = 2
	default:
		source = 3
	}
	if source == 2 && r.IntN(2) == 0 {
		extID = fmt.Sprintf("OD-%08d-%04x", id, r.IntN(0x10000))
	}
	if r.IntN(10) != 0 {
		room = doc.room
	}
	endMin := startMin + doc.slotMin
	booked := float64(day-r.IntN(21)) + minutesFrac(8*60+r.IntN(12*60))
	mod := booked
	switch {
	case deleted:
		mod = booked + r.Float64()*(float64(day)+minutesFrac(startMin)-booked)
	case status != 0:
		mod = float64(day) + minutesFrac(endMin+r.IntN(40))
	}
	mod = s.capNow(mod)
	if err := appts.add(int64(id), pcode, int64(doc.id), int64(doc.branch), float64(day), minutesFrac(startMin), minutesFrac(endMin),
		status, flag(deleted), reason, source, room, comment, extID, mod); err != nil {
		return err
	}
	if err := servs.add(int64(id), int64(s.specSrv[doc.spec][r.IntN(2)])); err != nil {
		return err
	}
	if r.IntN(100) < 12 {
		extra := s.common
		if ext := s.specExt[doc.spec]; len(ext) > 0 && r.IntN(2) == 0 {
			extra = ext
		}
		if err := servs.add(int64(id), int64(extra[r.IntN(len(extra))])); err != nil {
			return err
		}
	}
	return nil
}
