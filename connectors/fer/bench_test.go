package fer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
)

// BenchmarkGetScheduleInfo answers GetScheduleInfo for one doctor over 14 days with 40
// doctors × 60 days of 30-minute slots synced, through the HTTP handler (no network).
// The load test on loopback is `go run ./bench/fer`.
func BenchmarkGetScheduleInfo(b *testing.B) {
	h := newTestHost(b)
	h.put(clinic()[:3]...)
	h.put(&mapping.Specialty{ID: "1", Name: "Терапия", Code: "27"})
	for d := 0; d < 40; d++ {
		id := fmt.Sprint(100 + d)
		h.put(&mapping.Doctor{ID: id, BranchID: "1", SpecialtyID: "1", LastName: "Врач", FirstName: id, SNILS: snils(fmt.Sprintf("%09d", 112233000+d*7)), OnlineBooking: true})
		var recs []mapping.Record
		for day := 0; day < 60; day++ {
			y, m, dd := testNow.AddDate(0, 0, day).Date()
			sh := &mapping.Shift{ID: fmt.Sprint(id, day), DoctorID: id, BranchID: "1", Start: time.Date(y, m, dd, 8, 0, 0, 0, moscow), End: time.Date(y, m, dd, 20, 0, 0, 0, moscow), Room: "101", SlotMinutes: 30}
			for _, s := range mapping.DeriveSlots(sh, nil, time.Time{}) {
				recs = append(recs, s)
			}
		}
		h.put(recs...)
	}
	s := startServer(b, h, nil)
	body := `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:er="` + NS + `"><soapenv:Body>` +
		scheduleReq(snils(fmt.Sprintf("%09d", 112233000+7*7)), oidMoscow, "2026-12-10", "2026-12-23") + `</soapenv:Body></soapenv:Envelope>`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, s.c.set.path, strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5000"
		req.SetBasicAuth(testUser, testPassword)
		w := httptest.NewRecorder()
		s.c.ServeHTTP(w, req)
		if i == 0 && (w.Code != http.StatusOK || strings.Count(w.Body.String(), "<Slots>") != 14*24) {
			b.Fatalf("HTTP %d: %d slots\n%.500s", w.Code, strings.Count(w.Body.String(), "<Slots>"), w.Body.String())
		}
	}
}
