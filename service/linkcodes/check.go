package linkcodes

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"medsync/connectors"
	"medsync/service/config"
)

// CheckDelivery tests each delivery channel [linkcodes] sets up the way issuing a code
// uses it, without sending anything: the SMS gateway answers and takes the login
// (SMSЦентр's balance request), and the SMTP server answers, speaks TLS as configured
// and takes the credentials. `medsync check` runs it, so that a channel `run` would
// fail on is found before the first registrar does.
func CheckDelivery(ctx context.Context, c config.LinkCodes) []connectors.Check {
	var out []connectors.Check
	if c.SMSConfigured() {
		out = append(out, connectors.Check{Name: "SMS gateway " + hostOf(c.SMSURL), Err: checkSMS(ctx, c),
			Hint: "check [linkcodes] sms_url, sms_login and sms_password, and that this server reaches the gateway (proxy, firewall)"})
	}
	if c.EmailConfigured() {
		m, err := newMailSender(c.SMTPHost, c.SMTPPort, c.SMTPSecurity, c.SMTPUser, c.SMTPPassword, c.SMTPFrom, c.EmailSubject, c.SMTPCAFile, c.SMTPTimeout)
		if err == nil {
			err = m.check(ctx)
		}
		out = append(out, connectors.Check{Name: fmt.Sprintf("SMTP server %s:%d", c.SMTPHost, c.SMTPPort), Err: err,
			Hint: "check [linkcodes] smtp_host, smtp_port, smtp_security, smtp_user and smtp_password, and that this server reaches the mail server"})
	}
	return out
}

// checkSMS asks SMSЦентр for the account balance: it needs the same login as sending,
// and costs nothing. A gateway URL of another shape is only checked to answer HTTP.
func checkSMS(ctx context.Context, c config.LinkCodes) error {
	s := newSMSSender(c.SMSURL, c.SMSLogin, c.SMSPassword, c.SMSSender, c.SMSTimeout)
	balance, isSMSC := strings.CutSuffix(c.SMSURL, "/send.php")
	if !isSMSC {
		resp, err := s.http.R().SetContext(ctx).Get(c.SMSURL)
		if err != nil {
			return fmt.Errorf("sms gateway %s is unreachable: %w", hostOf(c.SMSURL), redactErr(err, c.SMSPassword))
		}
		if resp.StatusCode() >= 500 {
			return fmt.Errorf("sms gateway %s: HTTP %d", hostOf(c.SMSURL), resp.StatusCode())
		}
		return nil
	}
	resp, err := s.http.R().SetContext(ctx).SetFormData(map[string]string{"login": c.SMSLogin, "psw": c.SMSPassword, "fmt": "3"}).Post(balance + "/balance.php")
	if err != nil {
		return fmt.Errorf("sms gateway %s is unreachable: %w", hostOf(c.SMSURL), redactErr(err, c.SMSPassword))
	}
	if resp.StatusCode() != 200 {
		return fmt.Errorf("sms gateway %s: HTTP %d", hostOf(c.SMSURL), resp.StatusCode())
	}
	var a struct {
		Balance   string `json:"balance"`
		Error     string `json:"error"`
		ErrorCode int    `json:"error_code"`
	}
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		return fmt.Errorf("sms gateway %s: the answer is not JSON: %w", hostOf(c.SMSURL), err)
	}
	if a.Error != "" || a.ErrorCode != 0 {
		if a.ErrorCode == 2 {
			return fmt.Errorf("sms gateway %s refused the login: wrong sms_login or sms_password", hostOf(c.SMSURL))
		}
		return fmt.Errorf("sms gateway %s refused: error_code %d: %s", hostOf(c.SMSURL), a.ErrorCode, a.Error)
	}
	return nil
}

// check connects, negotiates TLS and authenticates, then quits without a message.
func (m *mailSender) check(ctx context.Context) error {
	c, err := gomail.NewClient(m.host, m.options()...)
	if err != nil {
		return fmt.Errorf("smtp %s:%d: %w", m.host, m.port, err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", m.host, m.port, redactErr(err, m.password))
	}
	return c.Close()
}
