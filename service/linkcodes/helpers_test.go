package linkcodes

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
	"medsync/service/config"
)

// syncBuf collects log output from concurrent goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSMSC is a strict SMSЦентр send.php: POST form, known parameters only, fmt=3.
type fakeSMSC struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	sent  []smsMsg
	fail  map[string]int // phone → error_code answered
	login string
	psw   string
}

type smsMsg struct{ Phone, Text string }

func newFakeSMSC(t *testing.T) *fakeSMSC {
	f := &fakeSMSC{t: t, fail: map[string]int{}, login: "clinic", psw: "sms-secret-pw"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

var smscAllowed = map[string]bool{"login": true, "psw": true, "phones": true, "mes": true, "fmt": true, "charset": true, "sender": true}

func (f *fakeSMSC) serve(w http.ResponseWriter, r *http.Request) {
	answer := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Method == http.MethodPost && r.URL.Path == "/sys/balance.php" {
		// SMSЦентр's balance request: login, psw, fmt=3 → {"balance": "…"}.
		if err := r.ParseForm(); err != nil || r.PostForm.Get("fmt") != "3" || len(r.URL.Query()) > 0 {
			answer(map[string]any{"error": "parameters error", "error_code": 1})
			return
		}
		if r.PostForm.Get("login") != f.login || r.PostForm.Get("psw") != f.psw {
			answer(map[string]any{"error": "authorise error", "error_code": 2})
			return
		}
		answer(map[string]any{"balance": "1250.00"})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/sys/send.php" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		answer(map[string]any{"error": "parameters error", "error_code": 1})
		return
	}
	for k := range r.PostForm {
		if !smscAllowed[k] {
			f.t.Errorf("fake SMSC: unknown parameter %q", k)
			answer(map[string]any{"error": "parameters error", "error_code": 1})
			return
		}
	}
	if len(r.URL.Query()) > 0 {
		f.t.Errorf("fake SMSC: parameters in the URL (the password would be logged by proxies): %v", r.URL.RawQuery)
	}
	p := r.PostForm
	if p.Get("fmt") != "3" || p.Get("charset") != "utf-8" || p.Get("mes") == "" || p.Get("phones") == "" {
		answer(map[string]any{"error": "parameters error", "error_code": 1})
		return
	}
	if p.Get("login") != f.login || p.Get("psw") != f.psw {
		answer(map[string]any{"error": "authorise error", "error_code": 2})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if code, ok := f.fail[p.Get("phones")]; ok {
		answer(map[string]any{"error": "gateway refused", "error_code": code})
		return
	}
	f.sent = append(f.sent, smsMsg{p.Get("phones"), p.Get("mes")})
	answer(map[string]any{"id": len(f.sent), "cnt": 1})
}

func (f *fakeSMSC) messages() []smsMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]smsMsg(nil), f.sent...)
}

// smtpServer is a real SMTP server (emersion/go-smtp) with STARTTLS on a self-signed
// certificate; it refuses mail sent before STARTTLS and records what it accepts.
type smtpServer struct {
	addr   string
	caFile string
	mu     sync.Mutex
	msgs   []*mail.Message
	bodies []string
	refuse map[string]bool // recipients answered 550
}

type smtpSession struct {
	srv *smtpServer
	c   *smtp.Conn
	to  []string
}

func (s *smtpSession) Reset()        { s.to = nil }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if _, ok := s.c.TLSConnectionState(); !ok {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue STARTTLS first"}
	}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.refuse[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := decodeBody(m)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.msgs = append(s.srv.msgs, m)
	s.srv.bodies = append(s.srv.bodies, body)
	return nil
}

func decodeBody(m *mail.Message) (string, error) {
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	var r io.Reader = m.Body
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(m.Body, params["boundary"])
		p, err := mr.NextPart()
		if err != nil {
			return "", err
		}
		r = p
	} else if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedPrintable(r)
	} else if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "base64") {
		r = base64Reader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	cert, caPEM := selfSigned(t)
	s := &smtpServer{refuse: map[string]bool{}}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s, c: c}, nil })
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l) //nolint:errcheck // ends on Close
	t.Cleanup(func() { srv.Close() })
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *smtpServer) received() (to []string, bodies []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		to = append(to, m.Header.Get("To"))
	}
	return to, append([]string(nil), s.bodies...)
}

func (s *smtpServer) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "medsync test SMTP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}

// fakeRegistrar records link codes and unlinks; it can fail and report links.
type fakeRegistrar struct {
	mu      sync.Mutex
	codes   map[string]string // patient → last code
	unlinks []string
	linked  map[string]bool
	fail    error
}

func newFakeRegistrar() *fakeRegistrar {
	return &fakeRegistrar{codes: map[string]string{}, linked: map[string]bool{}}
}

func (f *fakeRegistrar) RegisterLinkCode(_ context.Context, patientID, code string, expires time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !ValidCode(code) || expires.IsZero() {
		return errors.New("fake registrar: bad code or expiry")
	}
	f.codes[patientID] = code
	return nil
}

func (f *fakeRegistrar) Unlink(_ context.Context, patientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.unlinks = append(f.unlinks, patientID)
	f.linked[patientID] = false
	return nil
}

func (f *fakeRegistrar) IsLinked(_ context.Context, patientID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.linked[patientID], nil
}

func (f *fakeRegistrar) code(patientID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.codes[patientID]
}

func (f *fakeRegistrar) unlinked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.unlinks...)
}

var _ connectors.LinkRegistrar = (*fakeRegistrar)(nil)

// testEnv is a demo MIS, a service over it, and fake peers.
type testEnv struct {
	t       *testing.T
	dialect string
	db      *sql.DB
	src     *mapping.Source
	mis     connectors.MISWriter
	svc     *Service
	sms     *fakeSMSC
	smtp    *smtpServer
	reg     *fakeRegistrar
	logs    *syncBuf
	clock   *clock
	dir     string
	users   map[string]string
}

var testToday = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// testPassword is the password of the test users (hash computed once).
const testPassword = "correct horse 42"

func baseConfig(sms *fakeSMSC, mailSrv *smtpServer) config.LinkCodes {
	lc := config.LinkCodes{
		Enabled: true, Lifetime: 72 * time.Hour, Priority: []string{"phone", "email"}, Clinic: "Здоровье",
		Requests: true, LimitPatientDay: 5, LimitUserDay: 100,
		SMSTimeout: 5 * time.Second, SMTPSecurity: "starttls", SMTPTimeout: 10 * time.Second,
		MessageSMS: config.DefaultLinkMessageSMS, MessageEmail: config.DefaultLinkMessageEmail, EmailSubject: config.DefaultLinkEmailSubject,
	}
	if sms != nil {
		lc.SMSURL, lc.SMSLogin, lc.SMSPassword = sms.srv.URL+"/sys/send.php", sms.login, sms.psw
	}
	if mailSrv != nil {
		lc.SMTPHost, lc.SMTPPort, lc.SMTPFrom, lc.SMTPCAFile = "127.0.0.1", mailSrv.port(), "noreply@clinic.example", mailSrv.caFile
	}
	return lc
}

func newEnv(t *testing.T, dialect string, mod func(*Options)) *testEnv {
	t.Helper()
	db, _, _, _ := demo.TestMIS(t, dialect, demo.Sizes{Branches: 1, Doctors: 2, Patients: 20, Appointments: 10, Days: 6, Today: testToday, Seed: 3})
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, dialect: dialect, logs: &syncBuf{}, clock: &clock{t: testToday}, reg: newFakeRegistrar(), dir: t.TempDir()}
	e.db = db
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.src = mapping.NewSource(db, dialect, p, mapping.SourceOptions{Zone: time.UTC, QueryTimeout: 30 * time.Second, Logger: logger})
	e.mis = mapping.NewWriter(db, dialect, p)
	e.sms = newFakeSMSC(t)
	e.smtp = startSMTP(t)
	o := Options{
		Config:     baseConfig(e.sms, e.smtp),
		Registrar:  config.Registrar{Enabled: true, Users: testUsers(t), SessionLifetime: time.Hour, LoginMaxFailures: 3, LockoutInitial: time.Minute, LockoutMax: 10 * time.Minute},
		StateDir:   e.dir,
		Zone:       time.UTC,
		Patients:   e.src,
		MIS:        e.mis,
		Registrars: []Registrar{{Name: "fake", Conn: e.reg}},
		Logger:     logger,
		Now:        e.clock.now,
	}
	if mod != nil {
		mod(&o)
	}
	e.svc, err = New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.svc.Close() })
	return e
}

var (
	usersOnce sync.Once
	usersHash string
)

func testUsers(t *testing.T) map[string]string {
	usersOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		usersHash = string(h)
	})
	return map[string]string{"anna": usersHash}
}

// exec runs a statement with :named parameters on the test MIS.
func (e *testEnv) exec(q string, params map[string]any) {
	e.t.Helper()
	sqlText, args, err := mapping.RenderSQL(e.dialect, q, params)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.ExecContext(context.Background(), sqlText, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// addPatient inserts a card; birth "" leaves BDATE NULL.
func (e *testEnv) addPatient(id int, last, first, birth, phone, email string, linkRequest int) {
	e.t.Helper()
	var bdate any
	if birth != "" {
		d, err := convert.ParseDate(birth)
		if err != nil {
			e.t.Fatal(err)
		}
		bdate = convert.ToOLE(d)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	e.exec(`INSERT INTO CLIENTS (PCODE, CARDNUM, LASTNAME, FIRSTNAME, MIDNAME, BDATE, GENDER, PHONE1, EMAIL, SMS_AGREE, EMAIL_AGREE, DELETED, LINK_REQUEST, MODIFYDATE)
		VALUES (:id, :card, :last, :first, :mid, :bdate, 1, :phone, :email, 1, 1, 0, :req, 46000.5)`, map[string]any{
		"id": id, "card": fmt.Sprintf("K-%d", id), "last": null(last), "first": null(first), "mid": "Петрович",
		"bdate": bdate, "phone": null(phone), "email": null(email), "req": linkRequest,
	})
}

func quotedPrintable(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }
func base64Reader(r io.Reader) io.Reader    { return base64.NewDecoder(base64.StdEncoding, r) }
