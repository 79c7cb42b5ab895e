package linkcodes

import (
	"context"
	"net"
	"strings"
	"testing"
)

// check tests each channel as issuing a code would use it, and sends nothing.
func TestCheckDelivery(t *testing.T) {
	sms, mailSrv := newFakeSMSC(t), startSMTP(t)
	c := baseConfig(sms, mailSrv)
	c.SMTPCAFile = mailSrv.caFile
	ctx := context.Background()
	checks := CheckDelivery(ctx, c)
	if len(checks) != 2 {
		t.Fatalf("%d checks, want SMS and SMTP: %+v", len(checks), checks)
	}
	for _, k := range checks {
		if k.Err != nil {
			t.Errorf("%s: %v", k.Name, k.Err)
		}
	}
	if n := len(sms.messages()); n != 0 {
		t.Errorf("check sent %d SMS", n)
	}
	if to, _ := mailSrv.received(); len(to) != 0 {
		t.Errorf("check sent e-mail to %v", to)
	}

	bad := c
	bad.SMSPassword = "wrong-password"
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	bad.SMTPPort = l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	checks = CheckDelivery(ctx, bad)
	if len(checks) != 2 || checks[0].Err == nil || !strings.Contains(checks[0].Err.Error(), "wrong sms_login or sms_password") ||
		strings.Contains(checks[0].Err.Error(), "wrong-password") {
		t.Errorf("wrong SMS password: %+v", checks[0])
	}
	if checks[1].Err == nil || checks[1].Hint == "" {
		t.Errorf("unreachable SMTP: %+v", checks[1])
	}
}

func TestCodeStates(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.addPatient(900020, "Петров", "Пётр", "1980-01-02", "+79161234567", "", 0)
	ctx := context.Background()
	for i := 0; i < 2; i++ { // the second replaces the first
		if _, err := e.svc.Issue(ctx, "900020", "anna"); err != nil {
			t.Fatal(err)
		}
	}
	m, err := e.svc.CodeStates(ctx)
	if err != nil || m["active"] != 1 || m["revoked"] != 1 {
		t.Errorf("code states %v, %v; want 1 active, 1 revoked", m, err)
	}
}
