package linkcodes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/service/config"
	"medsync/service/engine"
)

// PatientSource reads patient cards and the profile's read.* statements; *mapping.Source
// implements it.
type PatientSource interface {
	ReadKeys(ctx context.Context, entity string, keys []string, fn func(mapping.Item) error, skip func(mapping.Skip)) error
	HasStatement(name string) bool
	QueryNamed(ctx context.Context, name string, params map[string]any, fn func(row map[string]string) error) error
}

// Registrar is one connector that takes link codes.
type Registrar struct {
	Name string
	Conn connectors.LinkRegistrar
	// TakesPatients: the connector receives patient events and unlinks deleted cards
	// itself (ONDOC); medsync then does not call Unlink for a deleted card.
	TakesPatients bool
}

// RegistrarsFrom picks the targets whose connector implements connectors.LinkRegistrar.
func RegistrarsFrom(targets []*engine.Target) []Registrar {
	var out []Registrar
	for _, t := range targets {
		lr, ok := t.Conn.(connectors.LinkRegistrar)
		if !ok {
			continue
		}
		takes := false
		for _, e := range t.Entities {
			if e == mapping.EntityPatient {
				takes = true
			}
		}
		out = append(out, Registrar{Name: t.Name, Conn: lr, TakesPatients: takes})
	}
	return out
}

// Options build a Service.
type Options struct {
	Config        config.LinkCodes
	Registrar     config.Registrar // users and sessions of the web page
	StateDir      string
	Zone          *time.Location // expiry times in messages are shown in it
	Patients      PatientSource
	MIS           connectors.MISWriter // nil for read-only profiles
	Registrars    []Registrar
	Logger        *slog.Logger
	Now           func() time.Time
	SMTPTLS       *tls.Config // overrides the TLS settings of e-mail delivery (tests)
	SecureCookies bool        // set the Secure flag (the page is served over TLS)
	// Deletions lets registrar admins review deletions the guard holds; nil: the
	// page says to use `medsync deletions`.
	Deletions Deletions
}

// Service issues, delivers and revokes link codes.
type Service struct {
	o    Options
	log  *slog.Logger
	keys *keys
	st   *store
	sms  *smsSender
	mail *mailSender
	mu   sync.Mutex // one issue/resend/revoke at a time
	now  func() time.Time
	web  *web
	// newCode draws codes; tests replace it to force collisions.
	newCode func() (string, error)
}

// Error is a refusal the registrar reads: RU is Russian, Error() English for the log.
type Error struct {
	RU  string
	Err error
	// Card: the MIS card itself is the problem (missing, deleted, incomplete, bad
	// contacts); retrying without fixing the card gives the same answer.
	Card bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func refuse(ru string, format string, a ...any) error {
	return &Error{RU: ru, Err: fmt.Errorf(format, a...)}
}

func refuseCard(ru string, format string, a ...any) error {
	return &Error{RU: ru, Err: fmt.Errorf(format, a...), Card: true}
}

// RU returns the Russian text for err: the registrar's message for an *Error, a generic
// one otherwise.
func RU(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.RU
	}
	return "Внутренняя ошибка; подробности в журнале medsync."
}

// New opens the store (<state_dir>/linkcodes.db, the secret linkcodes.key) and builds the
// senders.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Zone == nil {
		o.Zone = time.Local
	}
	if o.Patients == nil {
		return nil, errors.New("link codes: no patient source")
	}
	k, err := loadKeys(o.StateDir)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, o.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, log: o.Logger.With("component", "linkcodes"), keys: k, st: st, now: o.Now, newCode: NewCode}
	c := o.Config
	if c.SMSConfigured() {
		s.sms = newSMSSender(c.SMSURL, c.SMSLogin, c.SMSPassword, c.SMSSender, c.SMSTimeout)
	}
	if c.EmailConfigured() {
		s.mail, err = newMailSender(c.SMTPHost, c.SMTPPort, c.SMTPSecurity, c.SMTPUser, c.SMTPPassword, c.SMTPFrom, c.EmailSubject, c.SMTPCAFile, c.SMTPTimeout)
		if err != nil {
			st.close()
			return nil, err
		}
		if o.SMTPTLS != nil {
			s.mail.tls = o.SMTPTLS
		}
	}
	if len(o.Registrars) == 0 {
		s.log.Warn("link codes are enabled but no enabled connector takes them; enable [connector.ondoc]")
	}
	s.web = newWeb(s)
	return s, nil
}

// Close releases the store.
func (s *Service) Close() error { return s.st.close() }

// Issued is the outcome of Issue or Resend.
type Issued struct {
	PatientID string
	Code      string // the code, only from Issue: shown once, never stored in clear
	ExpiresAt time.Time
	Attempts  []Attempt
	Delivered bool // some channel accepted it
}

// Patient reads one patient card from the MIS (patient.by_keys).
func (s *Service) Patient(ctx context.Context, patientID string) (*mapping.Patient, error) {
	patientID = strings.TrimSpace(patientID)
	if patientID == "" {
		return nil, refuse("Не указан пациент.", "no patient id given")
	}
	var p *mapping.Patient
	var skipped string
	err := s.o.Patients.ReadKeys(ctx, mapping.EntityPatient, []string{patientID}, func(it mapping.Item) error {
		if r, ok := it.Record.(*mapping.Patient); ok && r.ID == patientID {
			p = r
		}
		return nil
	}, func(sk mapping.Skip) { skipped = sk.Problem })
	if err != nil {
		return nil, &Error{RU: "Не удалось прочитать карту пациента из МИС; подробности в журнале medsync.", Err: fmt.Errorf("read patient %s: %w", patientID, err)}
	}
	if p == nil && skipped != "" {
		for col, ru := range map[string]string{"last_name": "фамилия", "first_name": "имя"} {
			if strings.HasPrefix(skipped, col+":") {
				return nil, refuseCard("Не хватает: "+ru+". Дополните карту пациента в МИС.", "patient %s: card lacks %s (%s)", patientID, col, skipped)
			}
		}
		return nil, refuseCard("Карта пациента в МИС содержит ошибку: "+skipped, "patient %s: card skipped: %s", patientID, skipped)
	}
	if p == nil {
		return nil, refuseCard("Пациент с таким номером не найден в МИС.", "patient %s not found in the MIS", patientID)
	}
	return p, nil
}

// missing lists what a card lacks for linking: in Russian for the registrar, and in
// English for the log.
func missing(p *mapping.Patient) (ru, en []string) {
	for _, c := range []struct {
		lacks  bool
		ru, en string
	}{
		{strings.TrimSpace(p.LastName) == "", "фамилия", "last name"},
		{strings.TrimSpace(p.FirstName) == "", "имя", "first name"},
		{p.BirthDate == "", "дата рождения", "birth date"},
		{strings.TrimSpace(p.Phone) == "" && strings.TrimSpace(p.Email) == "", "телефон или e-mail", "phone or e-mail"},
	} {
		if c.lacks {
			ru, en = append(ru, c.ru), append(en, c.en)
		}
	}
	return ru, en
}

// route is a contact a code can go to.
type route struct {
	channel string
	dest    string // normalised
	masked  string
	bad     string // Russian: why it cannot be used; "" when usable
	setup   bool   // bad because medsync is not set up for the channel (not the card's fault)
}

func (s *Service) routes(p *mapping.Patient) []route {
	var out []route
	for _, ch := range s.o.Config.Priority {
		switch ch {
		case ChannelPhone:
			raw := strings.TrimSpace(p.Phone)
			if raw == "" {
				continue
			}
			r := route{channel: ch}
			if d, ok := normalizePhone(raw); ok {
				r.dest, r.masked = d, maskPhone(d)
			} else {
				r.masked, r.bad = "«"+raw+"»", "неверный формат номера телефона «"+raw+"» (нужен мобильный: +7 9XX XXX-XX-XX)"
			}
			if r.bad == "" && s.sms == nil {
				r.bad, r.setup = "отправка SMS в medsync не настроена (в config.ini нет [linkcodes] sms_url)", true
			}
			out = append(out, r)
		case ChannelEmail:
			raw := strings.TrimSpace(p.Email)
			if raw == "" {
				continue
			}
			r := route{channel: ch}
			if validEmail(raw) {
				r.dest, r.masked = raw, maskEmail(raw)
			} else {
				r.masked, r.bad = "«"+raw+"»", "неверный формат e-mail «"+raw+"»"
			}
			if r.bad == "" && s.mail == nil {
				r.bad, r.setup = "отправка e-mail в medsync не настроена (в config.ini нет [linkcodes] smtp_host)", true
			}
			out = append(out, r)
		}
	}
	return out
}

// check verifies the card and returns its usable routes.
func (s *Service) check(p *mapping.Patient) ([]route, error) {
	if p.Deleted {
		return nil, refuseCard("Карта пациента удалена в МИС.", "patient %s: card is deleted", p.ID)
	}
	if ru, en := missing(p); len(ru) > 0 {
		return nil, refuseCard("Не хватает: "+strings.Join(ru, ", ")+". Дополните карту пациента в МИС.", "patient %s: card lacks %s", p.ID, strings.Join(en, ", "))
	}
	rs := s.routes(p)
	var card, setup []string
	for _, r := range rs {
		switch {
		case r.bad == "":
			return rs, nil
		case r.setup:
			setup = append(setup, r.bad)
		default:
			card = append(card, r.bad)
		}
	}
	return nil, noRoute(p.ID, card, setup)
}

// noRoute names who must act when no contact can take the code: the registrar for a
// card's contacts, the medsync administrator for a channel that is not set up.
func noRoute(patientID string, card, setup []string) error {
	admin := "Это настройка medsync, а не ошибка карты пациента: обратитесь к администратору medsync (ИТ-отдел клиники)."
	switch {
	case len(card) == 0 && len(setup) > 0:
		return refuse("Код некуда отправить: "+strings.Join(setup, "; ")+". "+admin,
			"patient %s: no delivery channel is set up for the card's contacts ([linkcodes] sms_url / smtp_host)", patientID)
	case len(setup) > 0:
		return refuseCard("Некуда отправить код: "+strings.Join(card, "; ")+" — исправьте контакты в карте пациента в МИС. Кроме того, "+
			strings.Join(setup, "; ")+" — сообщите администратору medsync.",
			"patient %s: contacts unusable and a channel not set up", patientID)
	case len(card) == 0:
		return refuseCard("В карте пациента нет ни мобильного телефона, ни e-mail: добавьте контакт в карту пациента в МИС.",
			"patient %s: no phone or e-mail on the card", patientID)
	}
	return refuseCard("Некуда отправить код: "+strings.Join(card, "; ")+". Исправьте контакты в карте пациента в МИС.",
		"patient %s: no usable contact (%d given, none deliverable)", patientID, len(card))
}

// Actor names for codes medsync issues on its own.
const ActorMIS = "mis"

// Issue draws a new code for the patient (revoking the previous one), registers it with
// every registrar and delivers it. actor is the registrar's user name, "cli:<name>" or
// ActorMIS.
func (s *Service) Issue(ctx context.Context, patientID, actor string) (*Issued, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.issue(ctx, patientID, actor)
	if err != nil {
		s.log.Warn("link code not issued", "patient", patientID, "by", actor, "error", err)
	}
	return res, err
}

func (s *Service) issue(ctx context.Context, patientID, actor string) (*Issued, error) {
	p, err := s.Patient(ctx, patientID)
	if err != nil {
		return nil, err
	}
	rs, err := s.check(p)
	if err != nil {
		return nil, err
	}
	if len(s.o.Registrars) == 0 {
		return nil, refuse("Коды привязки некуда передать: не включено подключение к ONDOC. Обратитесь к администратору.", "no enabled connector takes link codes; enable [connector.ondoc]")
	}
	now := s.now()
	if err := s.st.expire(ctx, now); err != nil {
		return nil, s.storeErr(err)
	}
	day := now.Add(-24 * time.Hour)
	if n, err := s.st.countSince(ctx, "patient_id", p.ID, day); err != nil {
		return nil, s.storeErr(err)
	} else if n >= s.o.Config.LimitPatientDay {
		return nil, refuse(fmt.Sprintf("Для этого пациента за сутки уже выдано %d кодов — это предел. Повторите завтра или воспользуйтесь кнопкой «Отправить повторно».", n),
			"patient %s: daily limit of %d codes reached ([linkcodes] limit_per_patient_day)", p.ID, s.o.Config.LimitPatientDay)
	}
	if actor != ActorMIS {
		if n, err := s.st.countSince(ctx, "issued_by", actor, day); err != nil {
			return nil, s.storeErr(err)
		} else if n >= s.o.Config.LimitUserDay {
			return nil, refuse(fmt.Sprintf("Вы выдали за сутки %d кодов — это предел. Обратитесь к администратору.", n),
				"user %s: daily limit of %d codes reached ([linkcodes] limit_per_user_day)", actor, s.o.Config.LimitUserDay)
		}
	}
	var code string
	row := &codeRow{PatientID: p.ID, IssuedAt: now, ExpiresAt: now.Add(s.o.Config.Lifetime), IssuedBy: actor}
	for try := 0; ; try++ {
		if code, err = s.newCode(); err != nil {
			return nil, err
		}
		row.Hash = s.keys.hash(code)
		if row.Sealed, err = s.keys.seal(code, p.ID); err != nil {
			return nil, err
		}
		err = s.st.insertCode(ctx, row, now)
		if !errors.Is(err, errDuplicate) || try >= 20 {
			break
		}
	}
	if err != nil {
		return nil, s.storeErr(err)
	}
	var regErrs []string
	var regOK []string
	for _, r := range s.o.Registrars {
		if err := r.Conn.RegisterLinkCode(ctx, p.ID, code, row.ExpiresAt); err != nil {
			regErrs = append(regErrs, r.Name)
			s.log.Warn("link code not registered", "patient", p.ID, "connector", r.Name, "error", err)
			continue
		}
		regOK = append(regOK, r.Name)
	}
	if len(regErrs) > 0 {
		_ = s.st.endCode(ctx, row.ID, StateRevoked, now)
		return nil, refuse("Не удалось передать код в "+strings.Join(regErrs, ", ")+" (сервис недоступен или отказал); код не выдан. Повторите позже.",
			"patient %s: registering the code failed with %s", p.ID, strings.Join(regErrs, ", "))
	}
	_ = s.st.setRegistered(ctx, row.ID, strings.Join(regOK, ","))
	out := &Issued{PatientID: p.ID, Code: code, ExpiresAt: row.ExpiresAt}
	out.Attempts, out.Delivered = s.deliver(ctx, row.ID, rs, code, row.ExpiresAt)
	s.audit(ctx, actor, "issue", p.ID, deliverySummary(out.Attempts))
	s.log.Info("link code issued", "patient", p.ID, "by", actor, "expires", row.ExpiresAt.Format(time.RFC3339),
		"delivered", out.Delivered, "via", deliveryVia(out.Attempts))
	return out, nil
}

// deliver tries the routes in priority order until one accepts.
func (s *Service) deliver(ctx context.Context, codeID int64, rs []route, code string, expires time.Time) ([]Attempt, bool) {
	var out []Attempt
	for _, r := range rs {
		a := Attempt{At: s.now(), Channel: r.channel, Dest: r.masked}
		var err error
		switch {
		case r.bad != "":
			err = failRU(r.bad, fmt.Errorf("%s contact not usable", r.channel))
		case r.channel == ChannelPhone:
			err = s.sms.send(ctx, r.dest, render(s.o.Config.MessageSMS, code, s.o.Config.Clinic, expires.In(s.o.Zone)))
		default:
			err = s.mail.send(ctx, r.dest, render(s.o.Config.MessageEmail, code, s.o.Config.Clinic, expires.In(s.o.Zone)))
		}
		if err != nil {
			a.Detail = russian(err)
			if r.bad == "" {
				s.log.Warn("link code delivery failed", "channel", r.channel, "to", r.masked, "error", err)
			}
		} else {
			a.OK = true
			a.Detail = "отправлено"
		}
		if err := s.st.addAttempt(ctx, codeID, a); err != nil {
			s.log.Error("link codes: state file: recording a delivery attempt", "error", err)
		}
		out = append(out, a)
		if a.OK {
			return out, true
		}
	}
	return out, false
}

func deliverySummary(as []Attempt) string {
	var parts []string
	for _, a := range as {
		st := "ошибка: " + a.Detail
		if a.OK {
			st = "отправлено"
		}
		parts = append(parts, fmt.Sprintf("%s %s — %s", channelRU(a.Channel), a.Dest, st))
	}
	if len(parts) == 0 {
		return "не отправлялся"
	}
	return strings.Join(parts, "; ")
}

func deliveryVia(as []Attempt) string {
	for _, a := range as {
		if a.OK {
			return a.Channel
		}
	}
	return "none"
}

func channelRU(ch string) string {
	if ch == ChannelPhone {
		return "SMS"
	}
	return "e-mail"
}

func (s *Service) audit(ctx context.Context, actor, action, patientID, detail string) {
	if err := s.st.addAudit(ctx, AuditEntry{At: s.now(), Actor: actor, Action: action, PatientID: patientID, Detail: detail}); err != nil {
		s.log.Error("link codes: state file: audit entry not written", "action", action, "patient", patientID, "error", err)
	}
	s.log.Info("link codes audit", "actor", actor, "action", action, "patient", patientID)
}

func (s *Service) storeErr(err error) error {
	return &Error{RU: "Ошибка файла состояния medsync; подробности в журнале.", Err: fmt.Errorf("link codes: state file %s: %w", s.st.path, err)}
}

// Resend delivers the patient's active code again (the same code: it is kept sealed with
// the install's key until it is used, revoked or expires).
func (s *Service) Resend(ctx context.Context, patientID, actor string) (*Issued, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.resend(ctx, patientID, actor)
	if err != nil {
		s.log.Warn("link code not resent", "patient", patientID, "by", actor, "error", err)
	}
	return res, err
}

func (s *Service) resend(ctx context.Context, patientID, actor string) (*Issued, error) {
	now := s.now()
	if err := s.st.expire(ctx, now); err != nil {
		return nil, s.storeErr(err)
	}
	row, err := s.st.active(ctx, strings.TrimSpace(patientID))
	if err != nil {
		return nil, s.storeErr(err)
	}
	if row == nil {
		return nil, refuse("У пациента нет действующего кода; выдайте новый.", "patient %s has no active code to resend", patientID)
	}
	p, err := s.Patient(ctx, row.PatientID)
	if err != nil {
		return nil, err
	}
	rs, err := s.check(p)
	if err != nil {
		return nil, err
	}
	code, err := s.keys.open(row.Sealed, row.PatientID)
	if err != nil {
		return nil, &Error{RU: "Код нельзя отправить повторно; выдайте новый.", Err: fmt.Errorf("patient %s: %w", row.PatientID, err)}
	}
	out := &Issued{PatientID: row.PatientID, ExpiresAt: row.ExpiresAt}
	out.Attempts, out.Delivered = s.deliver(ctx, row.ID, rs, code, row.ExpiresAt)
	s.audit(ctx, actor, "resend", row.PatientID, deliverySummary(out.Attempts))
	return out, nil
}

// Revoke ends the patient's active code and unlinks the patient at every registrar.
func (s *Service) Revoke(ctx context.Context, patientID, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	patientID = strings.TrimSpace(patientID)
	if patientID == "" {
		return refuse("Не указан пациент.", "no patient id given")
	}
	now := s.now()
	row, err := s.st.active(ctx, patientID)
	if err != nil {
		return s.storeErr(err)
	}
	linked, _, _, _, err := s.st.link(ctx, patientID)
	if err != nil {
		return s.storeErr(err)
	}
	if row == nil && !linked {
		if _, err := s.Patient(ctx, patientID); err != nil {
			return err
		}
	}
	if row != nil {
		if err := s.st.endCode(ctx, row.ID, StateRevoked, now); err != nil {
			return s.storeErr(err)
		}
	}
	var failed []string
	for _, r := range s.o.Registrars {
		if err := r.Conn.Unlink(ctx, patientID); err != nil {
			failed = append(failed, r.Name)
			s.log.Warn("unlink failed", "patient", patientID, "connector", r.Name, "error", err)
		}
	}
	if err := s.st.setLink(ctx, patientID, false, now, "revoked"); err != nil {
		return s.storeErr(err)
	}
	detail := "код отозван"
	if row == nil {
		detail = "действующего кода не было; привязка снята"
	}
	s.audit(ctx, actor, "revoke", patientID, detail)
	if len(failed) > 0 {
		return refuse("Код отозван, но снять привязку в "+strings.Join(failed, ", ")+" не удалось (сервис недоступен). Повторите отзыв позже.",
			"patient %s: unlink failed with %s", patientID, strings.Join(failed, ", "))
	}
	return nil
}

// CodeInfo describes an issued code (never the code itself).
type CodeInfo struct {
	State      string    `json:"state"`
	IssuedAt   time.Time `json:"issued_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IssuedBy   string    `json:"issued_by"`
	EndedAt    time.Time `json:"ended_at"`
	Registered string    `json:"registered"`
	Attempts   []Attempt `json:"attempts"`
}

// Status is what medsync knows about a patient's link.
type Status struct {
	PatientID string           `json:"patient_id"`
	Patient   *mapping.Patient `json:"-"`
	CardError string           `json:"card_error,omitempty"` // Russian, when the card could not be read
	Linked    bool             `json:"linked"`
	LinkKnown bool             `json:"link_known"`
	LinkAt    time.Time        `json:"link_at"`
	LinkNote  string           `json:"link_note"`
	Codes     []CodeInfo       `json:"codes"` // newest first, up to 5
	Audit     []AuditEntry     `json:"audit"`
}

// Active returns the active code's info, or nil.
func (st *Status) Active() *CodeInfo {
	for i := range st.Codes {
		if st.Codes[i].State == StateActive {
			return &st.Codes[i]
		}
	}
	return nil
}

// Status reports a patient's link state, codes and their delivery attempts.
func (s *Service) Status(ctx context.Context, patientID string) (*Status, error) {
	patientID = strings.TrimSpace(patientID)
	if err := s.st.expire(ctx, s.now()); err != nil {
		return nil, s.storeErr(err)
	}
	out := &Status{PatientID: patientID}
	p, err := s.Patient(ctx, patientID)
	if err != nil {
		out.CardError = RU(err)
	}
	out.Patient = p
	var reason string
	out.Linked, out.LinkKnown, out.LinkAt, reason, err = s.st.link(ctx, patientID)
	if err != nil {
		return nil, s.storeErr(err)
	}
	out.LinkNote = linkNoteRU(reason)
	rows, err := s.st.latest(ctx, patientID, 5)
	if err != nil {
		return nil, s.storeErr(err)
	}
	for _, r := range rows {
		ci := CodeInfo{State: r.State, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt, IssuedBy: r.IssuedBy, EndedAt: r.EndedAt, Registered: r.Registered}
		if ci.Attempts, err = s.st.attempts(ctx, r.ID); err != nil {
			return nil, s.storeErr(err)
		}
		out.Codes = append(out.Codes, ci)
	}
	if out.Audit, err = s.st.audit(ctx, patientID, 20); err != nil {
		return nil, s.storeErr(err)
	}
	if p == nil && len(rows) == 0 && !out.LinkKnown {
		return nil, err0(patientID, out.CardError)
	}
	return out, nil
}

func err0(patientID, ru string) error {
	return refuse(ru, "patient %s: no card and no link history", patientID)
}

func linkNoteRU(reason string) string {
	switch reason {
	case "linked":
		return "пациент привязался по коду"
	case "revoked":
		return "привязка снята регистратором"
	case "card_deleted":
		return "карта удалена в МИС — привязка снята"
	}
	return reason
}

// StateRU is the Russian name of a code state.
func StateRU(state string) string {
	switch state {
	case StateActive:
		return "действует"
	case StateUsed:
		return "использован"
	case StateRevoked:
		return "отозван"
	case StateExpired:
		return "истёк"
	case StateCanceled:
		return "аннулирован (карта удалена)"
	}
	return state
}

// Find looks patients up: by card number, by birth date (ДД.ММ.ГГГГ or ГГГГ-ММ-ДД), or
// by "Фамилия [Имя]".
func (s *Service) Find(ctx context.Context, q string) ([]*mapping.Patient, error) {
	q = strings.Join(strings.Fields(q), " ")
	if q == "" {
		return nil, refuse("Введите фамилию, дату рождения или номер карты.", "empty search")
	}
	var stmt string
	params := map[string]any{}
	if d, ok := parseDate(q); ok {
		stmt = "read.link_find_birth"
		params["birth_date"] = d.String()
		params["birth_ole"] = convert.ToOLE(d)
	} else if isCardNumber(q) {
		stmt = "read.link_find_card"
		params["card_number"] = q
	} else {
		stmt = "read.link_find_name"
		f := strings.Fields(q)
		params["last_name_like"] = likePrefix(f[0])
		params["first_name_like"] = "%"
		if len(f) > 1 {
			params["first_name_like"] = likePrefix(f[1])
		}
	}
	if !s.o.Patients.HasStatement(stmt) {
		return nil, refuse("Поиск пациентов не настроен в профиле МИС (нет запроса "+stmt+").", "profile declares no %s; see service/linkcodes/README.md", stmt)
	}
	var ids []string
	err := s.o.Patients.QueryNamed(ctx, stmt, params, func(row map[string]string) error {
		if id := row["id"]; id != "" {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("patient search failed", "statement", stmt, "error", err)
		return nil, &Error{RU: "Поиск в МИС не удался; подробности в журнале medsync.", Err: err}
	}
	byID := map[string]*mapping.Patient{}
	if err := s.o.Patients.ReadKeys(ctx, mapping.EntityPatient, ids, func(it mapping.Item) error {
		if p, ok := it.Record.(*mapping.Patient); ok {
			byID[p.ID] = p
		}
		return nil
	}, nil); err != nil {
		return nil, &Error{RU: "Поиск в МИС не удался; подробности в журнале medsync.", Err: err}
	}
	var out []*mapping.Patient
	for _, id := range ids {
		if p := byID[id]; p != nil && !p.Deleted {
			out = append(out, p)
		}
	}
	return out, nil
}

func parseDate(q string) (convert.Date, bool) {
	for _, layout := range []string{"02.01.2006", "2006-01-02", "2.1.2006"} {
		if t, err := time.Parse(layout, q); err == nil {
			return convert.FromTime(t), true
		}
	}
	return convert.Date{}, false
}

func isCardNumber(q string) bool {
	if strings.ContainsAny(q, " ") {
		return false
	}
	for _, r := range q {
		if r >= '0' && r <= '9' {
			return true
		}
	}
	return false
}

// likePrefix normalises a name part ("иВАНОВ" → "Иванов%") and escapes nothing but %/_.
func likePrefix(s string) string {
	s = strings.NewReplacer("%", "", "_", "").Replace(s)
	r := []rune(strings.ToLower(s))
	if len(r) > 0 {
		r[0] = []rune(strings.ToUpper(string(r[0])))[0]
	}
	return string(r) + "%"
}

// misKey passes a numeric MIS key as a number (integer key columns on every dialect).
func misKey(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}
