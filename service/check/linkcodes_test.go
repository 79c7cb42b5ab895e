package check

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"medsync/mapping/demo"
)

// check agrees with run about link codes: the registrar page on every address without
// TLS (run refuses it), no connector that takes the codes, an SMTP server nobody
// answers on — each is a ✗ with what to do.
func TestCheckLinkCodes(t *testing.T) {
	_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 20, Days: 6, Seed: 5})
	h, err := bcrypt.GenerateFromPassword([]byte("registrar-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(h)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ini := "[mis]\ndriver = sqlite\ndsn = " + dsn + "\n\n[connector.file]\npath = out.jsonl\n\n" +
		"[linkcodes]\nenabled = true\nclinic = Клиника\npriority = email\nsmtp_host = 127.0.0.1\nsmtp_port = " + port + "\nsmtp_from = medsync@clinic.example\nsmtp_timeout = 2s\n\n" +
		"[registrar]\nenabled = true\nuser.anna = " + hash + "\n"
	// The registrar page listens where status_listen says: here, every address.
	p := writeINI(t, ini)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), "status_listen = 127.0.0.1:0", "status_listen = :0", 1)), 0o600)
	rep, out := run(t, p)
	if rep.OK() {
		t.Fatalf("check passed:\n%s", out)
	}
	for _, want := range []string{
		"✗ registrar page", "allow_plain_http_on_lan",
		"✗ link codes", "no enabled connector takes link codes", "[connector.ondoc]",
		"✗ link codes: SMTP server 127.0.0.1:" + port,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
}
