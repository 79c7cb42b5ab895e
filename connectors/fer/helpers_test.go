package fer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// testUser and testPassword are the basic-auth credentials of test servers.
const (
	testUser     = "epgu"
	testPassword = "s3cret-pass"
	oidMoscow    = "1.2.643.5.1.13.13.12.2.16.11022"
	oidEkb       = "1.2.643.5.1.13.13.12.2.66.7001"
)

var (
	moscow, _ = time.LoadLocation("Europe/Moscow")
	ekb, _    = time.LoadLocation("Asia/Yekaterinburg")
	// testNow is the clock of the synthetic clinic: 1 December 2026, 09:00 in Moscow.
	testNow = time.Date(2026, 12, 1, 9, 0, 0, 0, moscow)
)

// snils completes 9 digits with their СНИЛС check digits.
func snils(nine string) string {
	sum := 0
	for i, ch := range nine {
		sum += int(ch-'0') * (9 - i)
	}
	for sum > 101 {
		sum %= 101
	}
	if sum == 100 || sum == 101 {
		sum = 0
	}
	return fmt.Sprintf("%s%02d", nine, sum)
}

// testHost is a connectors.Host over records held in memory (and, when set, a MIS
// reader and writer for patient lookups and bookings).
type testHost struct {
	log    *slog.Logger
	dir    string
	mu     sync.Mutex
	recs   map[string]map[string]json.RawMessage
	mis    connectors.MISWriter
	reader func(ctx context.Context, name string, params map[string]any, fn func(map[string]string) error) error
}

func newTestHost(t testing.TB) *testHost {
	return &testHost{log: slog.New(slog.NewTextHandler(io.Discard, nil)), dir: t.TempDir(), recs: map[string]map[string]json.RawMessage{}}
}

func (h *testHost) Logger() *slog.Logger      { return h.log }
func (h *testHost) StateDir() string          { return h.dir }
func (h *testHost) MIS() connectors.MISWriter { return h.mis }
func (h *testHost) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	h.mu.Lock()
	m := h.recs[entity]
	h.mu.Unlock()
	for k, v := range m {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Refresh records nothing: the synthetic clinic has no MIS to re-read.
func (h *testHost) Refresh(context.Context, connectors.RefreshRequest) error { return nil }

func (h *testHost) QueryMIS(ctx context.Context, name string, params map[string]any, fn func(map[string]string) error) error {
	if h.reader == nil {
		return fmt.Errorf("no MIS in this test")
	}
	return h.reader(ctx, name, params, fn)
}

func (h *testHost) put(recs ...mapping.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range recs {
		data, _ := json.Marshal(r)
		if h.recs[r.EntityName()] == nil {
			h.recs[r.EntityName()] = map[string]json.RawMessage{}
		}
		h.recs[r.EntityName()][r.RecordKey()] = data
	}
}

// clinic is the synthetic clinic of the unit tests: a branch in Moscow and one in
// Yekaterinburg with an OID each, a third without one; doctors with and without a
// valid СНИЛС and with an unmapped specialty; two days of slots.
func clinic() []mapping.Record {
	recs := []mapping.Record{
		&mapping.Branch{ID: "1", Name: "Клиника на Баумана", Address: "г. Казань, ул. Баумана, д. 44/8", Phone: "+78432124041", TimeZone: "Europe/Moscow", MOOID: oidMoscow},
		&mapping.Branch{ID: "2", Name: "Клиника в Екатеринбурге", Address: "г. Екатеринбург, ул. Малышева, д. 51", TimeZone: "Asia/Yekaterinburg"},
		&mapping.Branch{ID: "3", Name: "Клиника на Тверской", Address: "г. Москва, ул. Тверская, д. 7", TimeZone: "Europe/Moscow"},
		&mapping.Specialty{ID: "1", Name: "Терапия", Code: "27"},
		&mapping.Specialty{ID: "2", Name: "Кардиология"},
		&mapping.Specialty{ID: "3", Name: "Мануальная терапия"},
		&mapping.Doctor{ID: "10", BranchID: "1", SpecialtyID: "1", LastName: "Иванова", FirstName: "Мария", MiddleName: "Петровна", SNILS: snils("112233445"), OnlineBooking: true, SlotMinutes: 30},
		&mapping.Doctor{ID: "11", BranchID: "2", SpecialtyID: "2", LastName: "Петров", FirstName: "Олег", SNILS: snils("223344556"), OnlineBooking: true, SlotMinutes: 30},
		&mapping.Doctor{ID: "12", BranchID: "1", SpecialtyID: "1", LastName: "Сидоров", FirstName: "Иван", OnlineBooking: true, SlotMinutes: 30},
		&mapping.Doctor{ID: "13", BranchID: "1", SpecialtyID: "3", LastName: "Кузнецов", FirstName: "Пётр", SNILS: snils("334455667"), OnlineBooking: true, SlotMinutes: 30},
		&mapping.Service{ID: "100", Name: "Приём терапевта первичный", Code: "B01.047.001", SpecialtyID: "1", OnlineBooking: true, Mode: mapping.ModeClinic, DurationMinutes: 30},
		&mapping.Service{ID: "101", Name: "Консультация кардиолога", SpecialtyID: "2", OnlineBooking: true, Mode: mapping.ModeClinic, DurationMinutes: 30},
	}
	shifts := []*mapping.Shift{
		{ID: "s1", DoctorID: "10", BranchID: "1", Start: time.Date(2026, 12, 1, 9, 0, 0, 0, moscow), End: time.Date(2026, 12, 1, 13, 0, 0, 0, moscow), Room: "12", SlotMinutes: 30},
		{ID: "s2", DoctorID: "10", BranchID: "1", Start: time.Date(2026, 12, 2, 9, 0, 0, 0, moscow), End: time.Date(2026, 12, 2, 11, 0, 0, 0, moscow), Room: "12", SlotMinutes: 30},
		{ID: "s3", DoctorID: "11", BranchID: "2", Start: time.Date(2026, 12, 2, 8, 0, 0, 0, ekb), End: time.Date(2026, 12, 2, 10, 0, 0, 0, ekb), SlotMinutes: 30},
	}
	busy := []mapping.Interval{{Start: time.Date(2026, 12, 2, 9, 30, 0, 0, moscow), End: time.Date(2026, 12, 2, 10, 0, 0, 0, moscow)}}
	for _, sh := range shifts {
		for _, s := range mapping.DeriveSlots(sh, busy, time.Time{}) {
			recs = append(recs, s)
		}
	}
	return recs
}

// testValues is a config section: the options' defaults with over on top.
func testValues(over map[string]string) *connectors.Values {
	m := map[string]string{}
	for _, o := range options {
		if !o.Pattern {
			m[o.Name] = o.Default
		}
	}
	m["listen"] = "127.0.0.1:0"
	m["allow"] = "127.0.0.1"
	m["basic_user"], m["basic_password"] = testUser, testPassword
	m["mo_oid.2"] = oidEkb
	m["specialty.2"] = "76"
	m["post.1"], m["post.2"] = "109", "24"
	for k, v := range over {
		m[k] = v
	}
	return connectors.NewValues("config.ini", "connector.fer", m)
}

// server is a running ФЭР service on loopback.
type server struct {
	c    *Conn
	url  string
	host *testHost
}

func startServer(t testing.TB, h *testHost, over map[string]string) *server {
	t.Helper()
	conn, err := New(connectors.Env{Instance: "fer", Logger: h.log, BaseDir: t.TempDir(), StateDir: t.TempDir()}, testValues(over))
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Conn)
	c.now = func() time.Time { return testNow }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.serveOn(ctx, h, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	for i := 0; i < 200 && !c.Listening()[0].Healthy; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	return &server{c: c, url: "http://" + ln.Addr().String() + c.set.path, host: h}
}

// call posts a SOAP request body (the operation element) and returns the status
// and the answer.
func (s *server) call(t testing.TB, op, element string) (int, string) {
	t.Helper()
	env := `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:er="` + NS + `"><soapenv:Header/><soapenv:Body>` + element + `</soapenv:Body></soapenv:Envelope>`
	return s.post(t, op, env)
}

func (s *server) post(t testing.TB, op, env string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(env))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if op != "" {
		req.Header.Set("SOAPAction", `"`+op+`"`)
	}
	req.SetBasicAuth(testUser, testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var bodyRe = regexp.MustCompile(`(?s)<soap:Body>(.*)</soap:Body>`)

// bodyOf is the response element of an envelope medsync wrote.
func bodyOf(t testing.TB, env string) string {
	t.Helper()
	m := bodyRe.FindStringSubmatch(env)
	if m == nil {
		t.Fatalf("no soap:Body in\n%s", env)
	}
	return m[1]
}

// validate checks every response element against the schema with xmllint.
func validate(t testing.TB, elements ...string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint is required in CI (Debian package libxml2-utils)")
		}
		t.Skip("xmllint not installed (apt-get install libxml2-utils): responses not validated")
	}
	dir := t.TempDir()
	var files []string
	for i, el := range elements {
		f := filepath.Join(dir, fmt.Sprintf("r%03d.xml", i))
		if err := os.WriteFile(f, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+el), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	for start := 0; start < len(files); start += 200 {
		end := min(start+200, len(files))
		args := append([]string{"--noout", "--nonet", "--schema", filepath.Join("schema", "er-schema.xsd")}, files[start:end]...)
		out, err := exec.Command("xmllint", args...).CombinedOutput()
		if err != nil {
			var bad bytes.Buffer
			for i := start; i < end; i++ {
				if bytes.Contains(out, []byte(fmt.Sprintf("r%03d.xml fails", i))) {
					fmt.Fprintf(&bad, "--- r%03d.xml\n%.3000s\n", i, elements[i])
				}
			}
			t.Fatalf("xmllint: %v\n%s\n%s", err, out, bad.String())
		}
	}
}

func testEnv(t testing.TB) connectors.Env {
	return connectors.Env{Instance: "fer", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseDir: t.TempDir(), StateDir: t.TempDir()}
}
