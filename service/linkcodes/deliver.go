package linkcodes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	gomail "github.com/wneessen/go-mail"

	"medsync/mapping/convert"
)

// Channels.
const (
	ChannelPhone = "phone"
	ChannelEmail = "email"
)

// deliveryError is a failure the registrar reads (Russian) and the log gets (English).
type deliveryError struct {
	ru  string
	err error
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

func failRU(ru string, err error) error { return &deliveryError{ru: ru, err: err} }

// russian returns the registrar's text for a delivery error.
func russian(err error) string {
	var d *deliveryError
	if errors.As(err, &d) {
		return d.ru
	}
	return "не удалось отправить"
}

// normalizePhone turns a Russian mobile number into 11 digits 7XXXXXXXXXX (the form
// SMSЦентр takes); other numbers cannot receive the code by SMS.
func normalizePhone(s string) (string, bool) {
	e164, err := convert.Phone(s)
	if err != nil || !convert.IsMobile(e164) {
		return "", false
	}
	return strings.TrimPrefix(e164, "+"), true
}

// validEmail checks an address is a bare, well-formed addr-spec.
func validEmail(s string) bool {
	e, err := convert.Email(s)
	return err == nil && strings.EqualFold(e, s)
}

func maskPhone(d string) string {
	if len(d) < 8 {
		return "***"
	}
	return "+" + d[:4] + "***" + d[len(d)-4:]
}

func maskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}

// render fills a message template.
func render(tmpl, code, clinic string, expires time.Time) string {
	r := strings.NewReplacer("{code}", code, "{clinic}", clinic, "{expires}", expires.Format("02.01.2006 15:04"))
	return r.Replace(tmpl)
}

// smsSender sends SMS through SMSЦентр's HTTP API (send.php, fmt=3 JSON answers).
type smsSender struct {
	http     *resty.Client
	url      string
	login    string
	password string
	sender   string
}

func newSMSSender(url, login, password, sender string, timeout time.Duration) *smsSender {
	c := resty.New().SetTimeout(timeout).SetHeader("User-Agent", "medsync")
	return &smsSender{http: c, url: url, login: login, password: password, sender: sender}
}

type smscAnswer struct {
	ID        *int64 `json:"id"`
	Cnt       int    `json:"cnt"`
	Error     string `json:"error"`
	ErrorCode int    `json:"error_code"`
}

// smscErrors are SMSЦентр's error codes, in Russian for the registrar.
var smscErrors = map[int]string{
	1: "ошибка в параметрах запроса к SMS-шлюзу",
	2: "неверный логин или пароль SMS-шлюза (проверьте [linkcodes] sms_login и sms_password)",
	3: "недостаточно средств на счёте SMS-шлюза",
	4: "IP-адрес сервера временно заблокирован SMS-шлюзом",
	5: "неверный формат даты в запросе к SMS-шлюзу",
	6: "сообщение запрещено SMS-шлюзом (по тексту или имени отправителя)",
	7: "неверный формат номера телефона",
	8: "сообщение на этот номер не может быть доставлено",
	9: "слишком много одинаковых запросов к SMS-шлюзу; повторите через минуту",
}

func (s *smsSender) send(ctx context.Context, phone, text string) error {
	form := map[string]string{
		"login": s.login, "psw": s.password, "phones": phone, "mes": text,
		"fmt": "3", "charset": "utf-8",
	}
	if s.sender != "" {
		form["sender"] = s.sender
	}
	resp, err := s.http.R().SetContext(ctx).SetFormData(form).Post(s.url)
	if err != nil {
		return failRU("SMS-шлюз недоступен", fmt.Errorf("sms gateway %s: %w", hostOf(s.url), redactErr(err, s.password)))
	}
	if resp.StatusCode() != 200 {
		return failRU(fmt.Sprintf("SMS-шлюз ответил ошибкой HTTP %d", resp.StatusCode()), fmt.Errorf("sms gateway %s: HTTP %d", hostOf(s.url), resp.StatusCode()))
	}
	var a smscAnswer
	if err := json.Unmarshal(resp.Body(), &a); err != nil {
		return failRU("SMS-шлюз вернул непонятный ответ", fmt.Errorf("sms gateway %s: answer is not JSON: %w", hostOf(s.url), err))
	}
	if a.Error != "" || a.ErrorCode != 0 {
		ru, ok := smscErrors[a.ErrorCode]
		if !ok {
			ru = "SMS-шлюз отказал: " + a.Error
		}
		return failRU(ru, fmt.Errorf("sms gateway %s refused: error_code %d: %s", hostOf(s.url), a.ErrorCode, a.Error))
	}
	if a.ID == nil {
		return failRU("SMS-шлюз вернул непонятный ответ", fmt.Errorf("sms gateway %s: answer has neither id nor error", hostOf(s.url)))
	}
	return nil
}

func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	h, _, _ := strings.Cut(u, "/")
	return h
}

func redactErr(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "******"))
}

// mailSender sends e-mail through SMTP with STARTTLS (mandatory) or implicit TLS.
type mailSender struct {
	host, user, password, from, subject string
	port                                int
	implicitTLS                         bool
	tls                                 *tls.Config
	timeout                             time.Duration
}

func newMailSender(host string, port int, security, user, password, from, subject, caFile string, timeout time.Duration) (*mailSender, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("[linkcodes] smtp_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("[linkcodes] smtp_ca_file %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	return &mailSender{host: host, port: port, implicitTLS: security == "tls", user: user, password: password,
		from: from, subject: subject, tls: tc, timeout: timeout}, nil
}

func (m *mailSender) send(ctx context.Context, to, text string) error {
	msg := gomail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return failRU("неверный адрес отправителя в настройках", fmt.Errorf("[linkcodes] smtp_from %q: %w", m.from, err))
	}
	if err := msg.To(to); err != nil {
		return failRU("неверный формат e-mail", fmt.Errorf("e-mail address: %w", err))
	}
	msg.Subject(m.subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, text)
	c, err := gomail.NewClient(m.host, m.options()...)
	if err != nil {
		return failRU("ошибка настроек почты", fmt.Errorf("smtp %s:%d: %w", m.host, m.port, err))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return failRU("почтовый сервер не принял письмо", fmt.Errorf("smtp %s:%d: %w", m.host, m.port, redactErr(err, m.password)))
	}
	return nil
}

// options are the client options for the configured server: mandatory STARTTLS or
// implicit TLS, and authentication when a user is set.
func (m *mailSender) options() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(m.timeout), gomail.WithTLSConfig(m.tls)}
	if m.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(m.user), gomail.WithPassword(m.password))
	}
	return opts
}
