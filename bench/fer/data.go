package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

var (
	moscow, _ = time.LoadLocation("Europe/Moscow")
	ekb, _    = time.LoadLocation("Asia/Yekaterinburg")
	today     = time.Now()
)

// host is a connectors.Host over the synthetic clinic, as the state store would hold it.
type host struct {
	log  *slog.Logger
	recs map[string]map[string]json.RawMessage
}

func (h *host) Logger() *slog.Logger                                     { return h.log }
func (h *host) StateDir() string                                         { return "" }
func (h *host) MIS() connectors.MISWriter                                { return nil }
func (h *host) Refresh(context.Context, connectors.RefreshRequest) error { return nil }
func (h *host) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	for k, v := range h.recs[entity] {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// snilsOf is a valid СНИЛС for doctor i.
func snilsOf(i int) string {
	nine := fmt.Sprintf("%09d", 112233000+i*7)
	sum := 0
	for k, ch := range nine {
		sum += int(ch-'0') * (9 - k)
	}
	for sum > 101 {
		sum %= 101
	}
	if sum == 100 || sum == 101 {
		sum = 0
	}
	return fmt.Sprintf("%s%02d", nine, sum)
}

// newHost builds two branches (Moscow, Yekaterinburg), 40 doctors, and 60 days of
// 08:00–20:00 shifts in 30-minute slots, about a third of them busy.
func newHost(log *slog.Logger) *host {
	h := &host{log: log, recs: map[string]map[string]json.RawMessage{}}
	put := func(r mapping.Record) {
		b, _ := json.Marshal(r)
		if h.recs[r.EntityName()] == nil {
			h.recs[r.EntityName()] = map[string]json.RawMessage{}
		}
		h.recs[r.EntityName()][r.RecordKey()] = b
	}
	put(&mapping.Branch{ID: "1", Name: "Клиника на Баумана", Address: "г. Казань", TimeZone: "Europe/Moscow", MOOID: "1.2.643.5.1.13.13.12.2.16.11022"})
	put(&mapping.Branch{ID: "2", Name: "Клиника в Екатеринбурге", Address: "г. Екатеринбург", TimeZone: "Asia/Yekaterinburg"})
	for s := 1; s <= 4; s++ {
		put(&mapping.Specialty{ID: fmt.Sprint(s), Name: fmt.Sprint("Специальность ", s), Code: fmt.Sprint(20 + s)})
	}
	r := rand.New(rand.NewPCG(3, 4))
	for d := 0; d < doctors; d++ {
		branch, zone := "1", moscow
		if d%2 == 1 {
			branch, zone = "2", ekb
		}
		id := fmt.Sprint(100 + d)
		put(&mapping.Doctor{ID: id, BranchID: branch, SpecialtyID: fmt.Sprint(1 + d%4), LastName: "Врач", FirstName: id, SNILS: snilsOf(d), OnlineBooking: true, SlotMinutes: 30})
		for day := 0; day < days; day++ {
			y, m, dd := today.In(zone).AddDate(0, 0, day).Date()
			sh := &mapping.Shift{ID: fmt.Sprintf("%s-%d", id, day), DoctorID: id, BranchID: branch,
				Start: time.Date(y, m, dd, 8, 0, 0, 0, zone), End: time.Date(y, m, dd, 20, 0, 0, 0, zone), Room: "101", SlotMinutes: 30}
			var busy []mapping.Interval
			for k := 0; k < 24; k++ {
				if r.IntN(3) == 0 {
					st := sh.Start.Add(time.Duration(k) * 30 * time.Minute)
					busy = append(busy, mapping.Interval{Start: st, End: st.Add(30 * time.Minute)})
				}
			}
			for _, s := range mapping.DeriveSlots(sh, busy, time.Time{}) {
				put(s)
			}
		}
	}
	return h
}

// scheduleRequest asks for a random doctor's 14 days starting on a random day.
func scheduleRequest(r *rand.Rand) string {
	d := r.IntN(doctors)
	oid, zone := "1.2.643.5.1.13.13.12.2.16.11022", moscow
	if d%2 == 1 {
		oid, zone = "1.2.643.5.1.13.13.12.2.66.7001", ekb
	}
	from := today.In(zone).AddDate(0, 0, r.IntN(days-14))
	return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:er="http://www.rt-eu.ru/med/er/v2_0"><soapenv:Body><er:GetScheduleInfoRequest>` +
		`<er:Session_ID>5f0e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6</er:Session_ID><er:Specialist_SNILS>` + snilsOf(d) + `</er:Specialist_SNILS><er:MO_OID>` + oid +
		`</er:MO_OID><er:Start_Date_Range>` + from.Format("2006-01-02") + `</er:Start_Date_Range><er:End_Date_Range>` + from.AddDate(0, 0, 13).Format("2006-01-02") +
		`</er:End_Date_Range><er:Start_Time_Range>00:00:00</er:Start_Time_Range><er:End_Time_Range>23:59:59</er:End_Time_Range></er:GetScheduleInfoRequest></soapenv:Body></soapenv:Envelope>`
}
