package fer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"medsync/mapping"
	"medsync/mapping/demo"
	"medsync/service/app"
	"medsync/service/check"
	"medsync/service/config"
	"medsync/service/daemon"
)

// stack is a running medsync (app.Open + Run) over a seeded demo MIS with the ФЭР
// service enabled, as a clinic runs it.
type stack struct {
	app  *app.App
	fer  *Conn
	url  string
	mis  string // dialect
	cfg  *config.Config
	stop func()
}

// demoSizes: six branches (Europe/Moscow, Asia/Yekaterinburg, one in the service zone),
// two weeks of shifts each way.
func demoSizes() demo.Sizes {
	y, m, d := time.Now().Date()
	return demo.Sizes{Branches: 6, Doctors: 14, Patients: 300, Appointments: 400, Days: 28,
		Today: time.Date(y, m, d, 0, 0, 0, 0, time.Local), Seed: 3, BadRows: true}
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startStack starts medsync on dialect's demo MIS; extra is appended to config.ini.
func startStack(t testing.TB, dialect, extra string) *stack {
	t.Helper()
	_, driver, dsn, _ := demo.TestMIS(t, dialect, demoSizes())
	if driver == "pgx" {
		driver = "postgres"
	}
	addr := freePort(t)
	posts := ""
	for i := 1; i <= 20; i++ {
		posts += fmt.Sprintf("post.%d = %d\n", i, 100+i)
	}
	dir := t.TempDir()
	cfg := config.WriteForTest(t, dir, fmt.Sprintf(`[service]
interval = 60
state_dir = state
timezone = Europe/Moscow

[mis]
driver = %s
dsn = %s
profile = demo
days_back = 1
days_ahead = 14

[connector.fer]
listen = %s
allow = 127.0.0.1
basic_user = %s
basic_password = %s
booking_cutoff = 1h
cancel_cutoff = 1h
mo_oid.5 = %s
%s
%s`, driver, dsn, addr, testUser, testPassword, oidEkb, posts, extra))
	s := &stack{url: "http://" + addr + "/fer/soap", mis: dialect, cfg: cfg}
	s.start(t)
	t.Cleanup(func() { s.stop() })
	return s
}

// start opens medsync on the stack's config, polls once and runs it until stop.
func (s *stack) start(t testing.TB) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, s.cfg, log, app.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := a.Once(ctx); err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	s.app = a
	for _, tg := range a.Targets {
		if c, ok := tg.Conn.(*Conn); ok {
			s.fer = c
		}
	}
	stopped := false
	s.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			a.Close()
		}
	}
	for i := 0; i < 400 && !s.fer.Listening()[0].Healthy; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if l := s.fer.Listening()[0]; !l.Healthy {
		t.Fatalf("ФЭР service not healthy: %+v", l)
	}
}

// restart stops medsync and starts it again on the same MIS and state directory, as
// a service restart does.
func (s *stack) restart(t testing.TB) {
	t.Helper()
	s.stop()
	s.start(t)
}

func (s *stack) server() *server { return &server{c: s.fer, url: s.url} }

// pick is a doctor with free bookable slots and what a portal would send for them.
type pick struct {
	oid, moID, post, specialty, snils string
	slots                             []*mapping.Slot
	zone                              *time.Location
}

// pickDoctor chooses a doctor of the branch in zone with at least n free slots.
func (s *stack) pickDoctor(t testing.TB, zone string, n int) pick {
	t.Helper()
	earliest := time.Now().Add(s.fer.set.bookingCutoff)
	var p pick
	s.fer.ix.read(func(v *refView) {
		for _, d := range v.docs {
			if d.mo.branch.TimeZone != zone || p.snils != "" {
				continue
			}
			var free []*mapping.Slot
			s.fer.ix.freeSlots(d.doc.ID, earliest, earliest.AddDate(0, 0, 13), func(sl *mapping.Slot) bool {
				free = append(free, sl)
				return true
			})
			if len(free) >= n {
				p = pick{oid: d.mo.oid, moID: d.mo.branch.ID, post: d.post, specialty: d.specialty, snils: d.snils, slots: free, zone: d.mo.zone}
			}
		}
	})
	if p.snils == "" {
		t.Fatalf("no doctor in %s with %d free slots: %+v", zone, n, s.fer.Listening())
	}
	return p
}

// patient is a live card of the demo MIS with its policy number.
type patient struct{ id, last, first, birth, oms string }

func (s *stack) patients(t testing.TB, n int) []patient {
	t.Helper()
	var out []patient
	rows, err := s.app.DB.Query(`SELECT PCODE, LASTNAME, FIRSTNAME, BDATE, POLIS FROM CLIENTS WHERE DELETED = 0 AND POLIS IS NOT NULL ORDER BY PCODE`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() && len(out) < n {
		var p patient
		var bdate float64
		if err := rows.Scan(&p.id, &p.last, &p.first, &bdate, &p.oms); err != nil {
			t.Fatal(err)
		}
		key := p.last + p.first + fmt.Sprint(bdate)
		if seen[key] {
			continue
		}
		seen[key] = true
		p.birth = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(bdate)).Format("2006-01-02")
		out = append(out, p)
	}
	return out
}

func newSession() string { return uuid.NewString() }

func patientInfoReq(session string, p patient, byOMS bool) string {
	oms := ""
	if byOMS {
		oms = "<er:OMS_Number>" + p.oms + "</er:OMS_Number>"
	}
	return `<er:GetPatientInfoRequest><er:Session_ID>` + session + `</er:Session_ID><er:Patient_Data>` + oms +
		`<er:First_Name>` + p.first + `</er:First_Name><er:Last_Name>` + p.last + `</er:Last_Name><er:Birth_Date>` + p.birth +
		`</er:Birth_Date><er:Sex>F</er:Sex></er:Patient_Data></er:GetPatientInfoRequest>`
}

func createReqXML(session, slot string) string {
	return `<er:CreateAppointmentRequest><er:Session_ID>` + session + `</er:Session_ID><er:Slot_Id>` + slot + `</er:Slot_Id></er:CreateAppointmentRequest>`
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return ""
}

// TestPatientLookup: GetPatientInfo finds the card by policy and by name and birth
// date through the profile's read.patient_lookup, on the real demo MIS.
func TestPatientLookup(t *testing.T) {
	s := startStack(t, demo.SQLite, "")
	srv := s.server()
	var answers []string
	for _, p := range s.patients(t, 3) {
		for _, byOMS := range []bool{true, false} {
			_, got := srv.call(t, OpGetPatientInfo, patientInfoReq(newSession(), p, byOMS))
			answers = append(answers, bodyOf(t, got))
			if id := between(got, "<Patient_Id>", "</Patient_Id>"); id != p.id {
				t.Errorf("patient %s (oms %v): got %q\n%s", p.id, byOMS, id, got)
			}
		}
	}
	_, got := srv.call(t, OpGetPatientInfo, patientInfoReq(newSession(), patient{last: "Несуществующая", first: "Анна", birth: "1901-01-01"}, false))
	if !strings.Contains(got, codePatientUnknown) {
		t.Errorf("unknown patient:\n%s", got)
	}
	validate(t, append(answers, bodyOf(t, got))...)
}

// TestCheckShowsService: medsync check shows the listener, finds it served by the
// running medsync, and lists the doctors left out for want of a valid СНИЛС — as
// warnings: the others are offered, so the check passes.
func TestCheckShowsService(t *testing.T) {
	s := startStack(t, demo.SQLite, "")
	var out strings.Builder
	rep := check.Run(context.Background(), s.cfg.File, &out, check.Options{})
	text := out.String()
	for _, want := range []string{
		"✓ connector fer: listen address " + strings.TrimPrefix(strings.TrimSuffix(s.url, "/fer/soap"), "http://"),
		"✓ connector fer: SOAP ЕПГУ/ФЭР: " + s.url + " (plain HTTP, address allow-list + basic auth)",
		"✓ connector fer: ФЭР offers ",
		"! connector fer: ФЭР: left out: филиал 3 «Клиника на Тверской» не предлагается: нет OID ФРМО",
		"нет действительного СНИЛС",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("check output lacks %q:\n%s", want, text)
		}
	}
	if !rep.OK() {
		t.Errorf("check failed; left-out doctors are warnings while others are offered: %+v", rep.Failed())
	}
}

// TestStatusPageAndMetrics: the running service (daemon.Program, as `medsync run`
// starts it) shows the ФЭР listener with its health and request counts on the status
// page, and its request metrics on /metrics.
func TestStatusPageAndMetrics(t *testing.T) {
	_, driver, dsn, _ := demo.TestMIS(t, demo.SQLite, demoSizes())
	addr := freePort(t)
	cfg := config.WriteForTest(t, t.TempDir(), fmt.Sprintf(`[service]
interval = 60
state_dir = state
log_dir = logs
timezone = Europe/Moscow
status_listen = 127.0.0.1:0

[mis]
driver = %s
dsn = %s
profile = demo

[connector.fer]
listen = %s
allow = 127.0.0.1
basic_user = %s
basic_password = %s
post.1 = 109
`, driver, dsn, addr, testUser, testPassword))
	p := &daemon.Program{Cfg: cfg, Stderr: io.Discard}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.Stop(nil)
		}
	}()
	var fer *Conn
	for i := 0; i < 500; i++ {
		if a := p.App(); a != nil && fer == nil {
			for _, tg := range a.Targets {
				fer, _ = tg.Conn.(*Conn)
			}
		}
		if fer != nil && fer.Listening()[0].Healthy && strings.Contains(fer.Listening()[0].Detail, "слотов: ") && !strings.Contains(fer.Listening()[0].Detail, "слотов: 0") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fer == nil || !fer.Listening()[0].Healthy {
		t.Fatal("ФЭР service did not start")
	}
	srv := &server{c: fer, url: "http://" + addr + "/fer/soap"}
	srv.call(t, OpGetMOInfoExtended, `<er:GetMOInfoExtendedRequest>`+session+`</er:GetMOInfoExtendedRequest>`)
	srv.call(t, OpGetScheduleInfo, scheduleReq(snils("112233445"), "1.2.3", "2026-12-01", "2026-12-02"))
	get := func(path string) string {
		resp, err := http.Get("http://" + p.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := get("/")
	for _, want := range []string{`id="listeners"`, "SOAP ЕПГУ/ФЭР", "http://" + addr + "/fer/soap", "работает", "GetMOInfoExtended: 1", "GetScheduleInfo: 1 (ошибок: 1)", "нет OID ФРМО"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	metrics := get("/metrics")
	for _, want := range []string{`medsync_fer_requests_total{operation="GetScheduleInfo",outcome="error"} 1`, `medsync_fer_request_seconds_bucket{operation="GetMOInfoExtended"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var f struct {
		Listeners []struct {
			Connector string `json:"connector"`
			Healthy   bool   `json:"healthy"`
		} `json:"listeners"`
	}
	if err := json.Unmarshal([]byte(get("/status.json")), &f); err != nil || len(f.Listeners) != 1 || f.Listeners[0].Connector != "fer" || !f.Listeners[0].Healthy {
		t.Errorf("status.json listeners: %+v %v", f, err)
	}
	// Stopping the service closes the SOAP listener too.
	stopped = true
	if err := p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
}

// TestSampleConf: every key of sample.conf is an option of the connector, and with the
// certificate lines taken out the section builds a working connector.
func TestSampleConf(t *testing.T) {
	sample, err := os.ReadFile("sample.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 1, Patients: 1, Appointments: 1, Days: 2, Seed: 1})
	var keep []string
	for _, l := range strings.Split(string(sample), "\n") {
		if !strings.HasPrefix(l, "tls_") && !strings.HasPrefix(l, "client_ca") {
			keep = append(keep, strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(l, ";allow"), ";basic_user"), ";basic_password"))
		}
	}
	text := strings.Join(keep, "\n")
	text = strings.Replace(text, " = 192.0.2.10, 198.51.100.0/28", "allow = 192.0.2.10, 198.51.100.0/28", 1)
	text = strings.Replace(text, " = epgu", "basic_user = epgu", 1)
	text = strings.Replace(text, " = ${env:MEDSYNC_FER_PASSWORD}", "basic_password = sample-secret", 1)
	cfg := config.WriteForTest(t, t.TempDir(), "[service]\nstate_dir = state\n\n[mis]\ndriver = sqlite\ndsn = "+dsn+"\nprofile = demo\n\n"+text)
	if shown := cfg.Show(); strings.Contains(shown, "sample-secret") || !strings.Contains(shown, "basic_password") {
		t.Errorf("config show does not mask basic_password:\n%s", shown)
	}
	for _, cc := range cfg.Enabled() {
		if cc.Type != Name {
			continue
		}
		conn, err := cc.Spec.New(cfg.Env(cc, nil), cc.Values)
		if err != nil {
			t.Fatalf("sample.conf: %v", err)
		}
		if l := conn.(*Conn).Listening()[0]; l.Addr != ":8443" || l.TLS {
			t.Errorf("sample.conf listener: %+v", l)
		}
		return
	}
	t.Fatal("sample.conf enables no fer section")
}

// TestAddedToASyncingInstallation: the service enabled on an installation that has
// been syncing without it gets the current records once — and keeps them in the state
// store, so that after a restart (no change in the MIS, so no events) it still offers
// the schedule.
func TestAddedToASyncingInstallation(t *testing.T) {
	_, driver, dsn, _ := demo.TestMIS(t, demo.SQLite, demoSizes())
	dir := t.TempDir()
	base := fmt.Sprintf("[service]\ninterval = 60\nstate_dir = state\ntimezone = Europe/Moscow\n\n[mis]\ndriver = %s\ndsn = %s\nprofile = demo\ndays_back = 1\ndays_ahead = 14\n\n[connector.file]\npath = out/events.jsonl\nfsync = false\n", driver, dsn)
	addr := freePort(t)
	withFER := base + fmt.Sprintf("\n[connector.fer]\nlisten = %s\nallow = 127.0.0.1\nbasic_user = %s\nbasic_password = %s\npost.1 = 101\npost.2 = 102\npost.3 = 103\n", addr, testUser, testPassword)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	once := func(text string) {
		t.Helper()
		a, err := app.Open(context.Background(), config.WriteForTest(t, dir, text), log, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	once(base)    // syncing without ФЭР
	once(withFER) // ФЭР added: the current records once
	a, err := app.Open(context.Background(), config.WriteForTest(t, dir, withFER), log, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var fer *Conn
	for _, tg := range a.Targets {
		if c, ok := tg.Conn.(*Conn); ok {
			fer = c
		}
	}
	for i := 0; i < 500 && !fer.Listening()[0].Healthy; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if l := fer.Listening()[0]; !l.Healthy || strings.Contains(l.Detail, "слотов: 0") || strings.Contains(l.Detail, "врачей: 0") {
		t.Errorf("after a restart the service offers nothing: %+v", l)
	}
}
