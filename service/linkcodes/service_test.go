package linkcodes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"medsync/mapping/demo"
)

func TestPreconditions(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900001, "Иванов", "Иван", "", "", "", 0)
	e.addPatient(900002, "Петров", "Пётр", "1980-01-02", "+79161234567", "", 0)
	e.addPatient(900003, "Сидоров", "Олег", "1980-01-02", "+7 495 123-45-67", "", 0)
	e.addPatient(900004, "Кузнецов", "Олег", "1980-01-02", "", "oleg@mail", 0)
	e.exec(`UPDATE CLIENTS SET DELETED = 1 WHERE PCODE = :id`, map[string]any{"id": 900002})
	e.addPatient(900005, "Смирнов", "", "1980-01-02", "", "smirnov@mail.ru", 0)
	ctx := context.Background()
	for _, tc := range []struct {
		id, want string
	}{
		{"900001", "Не хватает: дата рождения, телефон или e-mail"},
		{"900002", "Карта пациента удалена в МИС"},
		{"900003", "неверный формат номера телефона «+74951234567»"},
		{"900004", "Не хватает: телефон или e-mail"}, // the profile drops a malformed e-mail,
		{"900005", "Не хватает: имя"},
		{"999999", "Пациент с таким номером не найден в МИС"},
		{" ", "Не указан пациент"},
	} {
		_, err := e.svc.Issue(ctx, tc.id, "anna")
		var le *Error
		if !errors.As(err, &le) || !strings.Contains(le.RU, tc.want) {
			t.Errorf("patient %s: got %v (%q), want a refusal with %q", tc.id, err, RU(err), tc.want)
		}
	}
	if n := len(e.sms.messages()); n != 0 {
		t.Errorf("%d SMS sent for refused cards", n)
	}
	// One log line per refusal.
	if got := strings.Count(e.logs.String(), "link code not issued"); got != 7 {
		t.Errorf("%d log lines for 7 refusals:\n%s", got, e.logs.String())
	}
}

func TestIssueDeliversByPriorityAndFallsBack(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900010, "Иванова", "Анна", "1990-05-06", "8 (916) 123-45-67", "anna@mail.ru", 0)
	ctx := context.Background()

	res, err := e.svc.Issue(ctx, "900010", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if !ValidCode(res.Code) || !res.Delivered || len(res.Attempts) != 1 || res.Attempts[0].Channel != ChannelPhone {
		t.Fatalf("issue: %+v", res)
	}
	msgs := e.sms.messages()
	if len(msgs) != 1 || msgs[0].Phone != "79161234567" || !strings.Contains(msgs[0].Text, res.Code) || !strings.Contains(msgs[0].Text, "Действует до 23.11.2026 09:00") {
		t.Fatalf("sms: %+v", msgs)
	}
	if e.reg.code("900010") != res.Code {
		t.Fatal("the code was not registered with the link registrar")
	}

	// The gateway refuses the phone: the e-mail is tried next (same code on resend).
	e.sms.mu.Lock()
	e.sms.fail["79161234567"] = 3
	e.sms.mu.Unlock()
	rs, err := e.svc.Resend(ctx, "900010", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Attempts) != 2 || rs.Attempts[0].OK || rs.Attempts[0].Detail != smscErrors[3] || !rs.Attempts[1].OK || rs.Attempts[1].Channel != ChannelEmail {
		t.Fatalf("resend attempts: %+v", rs.Attempts)
	}
	to, bodies := e.smtp.received()
	if len(to) != 1 || !strings.Contains(to[0], "anna@mail.ru") || !strings.Contains(bodies[0], res.Code) || !strings.Contains(bodies[0], "Здоровье") {
		t.Fatalf("mail: %v %q", to, bodies)
	}

	// email first; the SMTP server refuses the mailbox: SMS is the fallback (still failing): nothing delivered.
	e.svc.o.Config.Priority = []string{"email", "phone"}
	e.smtp.mu.Lock()
	e.smtp.refuse["anna@mail.ru"] = true
	e.smtp.mu.Unlock()
	res2, err := e.svc.Issue(ctx, "900010", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if res2.Delivered || len(res2.Attempts) != 2 || res2.Attempts[0].Channel != ChannelEmail || res2.Attempts[0].Detail != "почтовый сервер не принял письмо" {
		t.Fatalf("issue with both failing: %+v", res2)
	}
	st, err := e.svc.Status(ctx, "900010")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Codes) != 2 || st.Codes[0].State != StateActive || st.Codes[1].State != StateRevoked || len(st.Codes[0].Attempts) != 2 || len(st.Codes[1].Attempts) != 3 {
		t.Fatalf("status: %+v", st.Codes)
	}
	// Every failure logged once, in English, naming the channel.
	if n := strings.Count(e.logs.String(), "link code delivery failed"); n != 3 {
		t.Errorf("%d delivery failure lines, want 3:\n%s", n, e.logs.String())
	}
	// Codes never reach the log or the audit table.
	assertNoCode(t, e, res.Code, res2.Code)
}

func assertNoCode(t *testing.T, e *testEnv, codes ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, c := range codes {
		if strings.Contains(logs, c) {
			t.Errorf("the log contains code %s", c)
		}
		var n int
		if err := e.svc.st.db.QueryRow(`SELECT COUNT(*) FROM audit WHERE detail LIKE '%' || ? || '%' OR actor LIKE '%' || ? || '%'`, c, c).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("the audit table contains code %s", c)
		}
		if err := e.svc.st.db.QueryRow(`SELECT COUNT(*) FROM codes WHERE hash LIKE '%' || ? || '%' OR registered LIKE '%' || ? || '%'`, c, c).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("the codes table holds code %s in clear", c)
		}
	}
	if strings.Contains(logs, e.sms.psw) {
		t.Error("the log contains the SMS password")
	}
}

func TestLifetimeRevocationAndSingleActive(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900020, "Петров", "Пётр", "1970-03-04", "+79990001122", "", 0)
	ctx := context.Background()
	res, err := e.svc.Issue(ctx, "900020", "anna")
	if err != nil {
		t.Fatal(err)
	}
	row, _ := e.svc.st.active(ctx, "900020")
	if row == nil || row.Sealed == nil || !row.ExpiresAt.Equal(testToday.Add(72*time.Hour)) {
		t.Fatalf("active row: %+v", row)
	}
	// Still valid one second before expiry; expired at it, and the sealed copy is gone.
	e.clock.add(72*time.Hour - time.Second)
	if _, err := e.svc.Resend(ctx, "900020", "anna"); err != nil {
		t.Fatalf("resend before expiry: %v", err)
	}
	e.clock.add(time.Second)
	if _, err := e.svc.Resend(ctx, "900020", "anna"); err == nil || !strings.Contains(RU(err), "нет действующего кода") {
		t.Fatalf("resend after expiry: %v", err)
	}
	var sealed []byte
	if err := e.svc.st.db.QueryRow(`SELECT sealed FROM codes WHERE patient_id = '900020'`).Scan(&sealed); err != nil || sealed != nil {
		t.Fatalf("expired code keeps its sealed copy: %v %v", sealed, err)
	}
	// A new code; revoke ends it and unlinks.
	res2, err := e.svc.Issue(ctx, "900020", "anna")
	if err != nil || res2.Code == res.Code && false {
		t.Fatal(err)
	}
	if err := e.svc.Revoke(ctx, "900020", "anna"); err != nil {
		t.Fatal(err)
	}
	if u := e.reg.unlinked(); len(u) != 1 || u[0] != "900020" {
		t.Fatalf("unlinks: %v", u)
	}
	st, _ := e.svc.Status(ctx, "900020")
	if st.Active() != nil || st.Codes[0].State != StateRevoked || st.Codes[1].State != StateExpired || st.LinkNote != "привязка снята регистратором" {
		t.Fatalf("status after revoke: %+v", st)
	}
	var actions []string
	for _, a := range st.Audit {
		actions = append(actions, a.Action)
	}
	if strings.Join(actions, ",") != "revoke,issue,resend,issue" {
		t.Errorf("audit: %v", actions)
	}
	assertNoCode(t, e, res.Code, res2.Code)
}

func TestIssueRetriesOnCollision(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900030, "Орлов", "Илья", "1970-03-04", "+79990001123", "", 0)
	e.addPatient(900031, "Орлова", "Ирина", "1971-03-04", "+79990001124", "", 0)
	seq := []string{"555555555", "555555555", "555555555", "666666666"}
	e.svc.newCode = func() (string, error) {
		c := seq[0]
		seq = seq[1:]
		return c, nil
	}
	ctx := context.Background()
	a, err := e.svc.Issue(ctx, "900030", "anna")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Issue(ctx, "900031", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if a.Code != "555555555" || b.Code != "666666666" {
		t.Fatalf("codes %s, %s: an active code was given twice", a.Code, b.Code)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, demo.SQLite, func(o *Options) {
		o.Config.LimitPatientDay = 2
		o.Config.LimitUserDay = 3
	})
	for i := range 3 {
		e.addPatient(900040+i, "Лимитов", "Лев", "1970-03-04", "+7999000114"+string(rune('0'+i)), "", 0)
	}
	ctx := context.Background()
	for i := range 2 {
		if _, err := e.svc.Issue(ctx, "900040", "anna"); err != nil {
			t.Fatalf("issue %d: %v", i, err)
		}
	}
	if _, err := e.svc.Issue(ctx, "900040", "boris"); err == nil || !strings.Contains(RU(err), "это предел") {
		t.Fatalf("third code for a patient: %v", err)
	}
	if _, err := e.svc.Issue(ctx, "900041", "anna"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Issue(ctx, "900042", "anna"); err == nil || !strings.Contains(RU(err), "Вы выдали за сутки 3") {
		t.Fatalf("fourth code by a user: %v", err)
	}
	e.clock.add(25 * time.Hour)
	if _, err := e.svc.Issue(ctx, "900042", "anna"); err != nil {
		t.Fatalf("next day: %v", err)
	}
}

func TestRegistrarFailureIssuesNothing(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900050, "Морозов", "Антон", "1970-03-04", "+79990001150", "", 0)
	e.reg.fail = errors.New("ondoc: 503")
	_, err := e.svc.Issue(context.Background(), "900050", "anna")
	if err == nil || !strings.Contains(RU(err), "Не удалось передать код в fake") {
		t.Fatalf("issue with the registrar down: %v", err)
	}
	if len(e.sms.messages()) != 0 {
		t.Fatal("a code ONDOC does not know was sent to the patient")
	}
	if row, _ := e.svc.st.active(context.Background(), "900050"); row != nil {
		t.Fatal("an unregistered code stayed active")
	}
}

func TestSMSBadCredentialsAndMalformedPhoneFallback(t *testing.T) {
	e := newEnv(t, demo.SQLite, func(o *Options) { o.Config.SMSPassword = "wrong" })
	e.addPatient(900060, "Волков", "Семён", "1970-03-04", "+79990001160", "volkov@mail.ru", 0)
	e.addPatient(900061, "Зайцев", "Глеб", "1970-03-04", "+7 (495) 123-45-67", "zaitsev@mail.ru", 0) // a landline: no SMS
	ctx := context.Background()
	res, err := e.svc.Issue(ctx, "900060", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Delivered || !strings.Contains(res.Attempts[0].Detail, "неверный логин или пароль SMS-шлюза") || res.Attempts[1].Channel != ChannelEmail {
		t.Fatalf("attempts: %+v", res.Attempts)
	}
	res, err = e.svc.Issue(ctx, "900061", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Delivered || res.Attempts[0].OK || !strings.Contains(res.Attempts[0].Detail, "неверный формат номера") || !res.Attempts[1].OK {
		t.Fatalf("attempts: %+v", res.Attempts)
	}
	if strings.Contains(e.logs.String(), "wrong") {
		t.Error("the log contains the SMS password")
	}
}

func TestCardDeletionUnlinks(t *testing.T) {
	ondocLike := newFakeRegistrar() // receives patient events: unlinks deleted cards itself
	e := newEnv(t, demo.SQLite, nil)
	e.svc.o.Registrars = append(e.svc.o.Registrars, Registrar{Name: "ondoc", Conn: ondocLike, TakesPatients: true})
	e.addPatient(900070, "Лебедев", "Юрий", "1970-03-04", "+79990001170", "", 0)  // active code, card deleted
	e.addPatient(900071, "Лебедева", "Юлия", "1970-03-04", "+79990001171", "", 0) // linked, card removed
	e.addPatient(900072, "Лебедь", "Яна", "1970-03-04", "+79990001172", "", 0)    // stays
	ctx := context.Background()
	for _, id := range []string{"900070", "900071", "900072"} {
		if _, err := e.svc.Issue(ctx, id, "anna"); err != nil {
			t.Fatal(err)
		}
	}
	e.reg.mu.Lock()
	e.reg.linked["900071"] = true
	e.reg.mu.Unlock()
	e.svc.AfterPoll(ctx)
	st, _ := e.svc.Status(ctx, "900071")
	if !st.Linked || st.Codes[0].State != StateUsed {
		t.Fatalf("link not recorded: %+v", st)
	}
	e.exec(`UPDATE CLIENTS SET DELETED = 1 WHERE PCODE = :id`, map[string]any{"id": 900070})
	e.exec(`DELETE FROM CLIENTS WHERE PCODE = :id`, map[string]any{"id": 900071})
	e.svc.AfterPoll(ctx)
	if u := e.reg.unlinked(); strings.Join(u, ",") != "900070,900071" {
		t.Fatalf("unlinks sent to the registrar without patient events: %v", u)
	}
	if u := ondocLike.unlinked(); len(u) != 0 {
		t.Fatalf("unlinks doubled on the registrar that unlinks deleted cards itself: %v", u)
	}
	st, _ = e.svc.Status(ctx, "900070")
	if st.Active() != nil || st.Codes[0].State != StateCanceled || st.LinkNote != "карта удалена в МИС — привязка снята" {
		t.Fatalf("deleted card: %+v", st)
	}
	if st, _ := e.svc.Status(ctx, "900072"); st.Active() == nil {
		t.Fatal("a living card lost its code")
	}
	e.svc.AfterPoll(ctx) // nothing more to do
	if u := e.reg.unlinked(); len(u) != 2 {
		t.Fatalf("unlink repeated: %v", u)
	}
}

func TestMISRequests(t *testing.T) {
	e := newEnv(t, demo.SQLite, nil)
	e.addPatient(900080, "Соколов", "Марк", "1970-03-04", "+79990001180", "", 1)
	e.addPatient(900081, "Соколова", "Мира", "", "", "", 1) // incomplete: refused once, not every poll
	ctx := context.Background()
	e.svc.AfterPoll(ctx)
	if e.reg.code("900080") == "" || len(e.sms.messages()) != 1 {
		t.Fatal("flagged patient got no code")
	}
	var flag int
	if err := e.db.QueryRow(`SELECT LINK_REQUEST FROM CLIENTS WHERE PCODE = 900080`).Scan(&flag); err != nil || flag != 0 {
		t.Fatalf("flag not cleared: %d %v", flag, err)
	}
	if err := e.db.QueryRow(`SELECT LINK_REQUEST FROM CLIENTS WHERE PCODE = 900081`).Scan(&flag); err != nil || flag != 0 {
		t.Fatalf("refused request's flag not cleared: %d %v", flag, err)
	}
	st, _ := e.svc.Status(ctx, "900080")
	if st.Codes[0].IssuedBy != ActorMIS {
		t.Fatalf("issued by %q", st.Codes[0].IssuedBy)
	}
	e.svc.AfterPoll(ctx)
	if len(e.sms.messages()) != 1 {
		t.Fatal("a request was issued twice")
	}
}

func TestMISRequestsReadOnlyProfile(t *testing.T) {
	e := newEnv(t, demo.SQLite, func(o *Options) { o.MIS = nil })
	e.addPatient(900090, "Новиков", "Лев", "1970-03-04", "+79990001190", "", 1)
	ctx := context.Background()
	e.svc.AfterPoll(ctx)
	e.svc.AfterPoll(ctx)
	if len(e.sms.messages()) != 1 {
		t.Fatalf("%d codes for one request on a read-only profile", len(e.sms.messages()))
	}
	// The MIS clears the flag and sets it again: a new request.
	e.exec(`UPDATE CLIENTS SET LINK_REQUEST = 0 WHERE PCODE = :id`, map[string]any{"id": 900090})
	e.svc.AfterPoll(ctx)
	e.exec(`UPDATE CLIENTS SET LINK_REQUEST = 1 WHERE PCODE = :id`, map[string]any{"id": 900090})
	e.svc.AfterPoll(ctx)
	if len(e.sms.messages()) != 2 {
		t.Fatalf("%d codes after a second request, want 2", len(e.sms.messages()))
	}
}

func TestFind(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect, nil)
			e.addPatient(900100, "Ёлкина", "Дарья", "1985-07-08", "+79990001200", "", 1)
			e.addPatient(900101, "Ёлкин", "Денис", "1985-07-09", "+79990001201", "", 0)
			ctx := context.Background()
			for _, tc := range []struct {
				q    string
				want string
			}{
				{"ёлкина", "900100"},
				{"ЁЛКИН д", "900101,900100"},
				{"Ёлкин Денис", "900101"},
				{"08.07.1985", "900100"},
				{"1985-07-09", "900101"},
				{"K-900101", "900101"},
				{"Несуществующий", ""},
			} {
				ps, err := e.svc.Find(ctx, tc.q)
				if err != nil {
					t.Fatalf("%q: %v", tc.q, err)
				}
				var ids []string
				for _, p := range ps {
					ids = append(ids, p.ID)
				}
				if got := strings.Join(ids, ","); got != tc.want {
					t.Errorf("Find(%q) = %s, want %s", tc.q, got, tc.want)
				}
			}
			// MIS requests through the same dialect.
			e.svc.AfterPoll(ctx)
			if e.reg.code("900100") == "" {
				t.Fatal("flagged patient got no code")
			}
			var flag int
			if err := e.db.QueryRow(`SELECT LINK_REQUEST FROM CLIENTS WHERE PCODE = 900100`).Scan(&flag); err != nil || flag != 0 {
				t.Fatalf("flag not cleared: %d %v", flag, err)
			}
		})
	}
}

// A channel medsync is not set up for is the administrator's to fix, not the card's:
// the registrar reads who must act.
func TestUnconfiguredChannelBlamesTheSetUpNotTheCard(t *testing.T) {
	e := newEnv(t, demo.SQLite, func(o *Options) {
		o.Config.SMSURL, o.Config.SMSLogin, o.Config.SMSPassword = "", "", ""
	})
	e.addPatient(900010, "Петров", "Пётр", "1980-01-02", "+79161234567", "", 0)
	e.addPatient(900011, "Орлов", "Олег", "1980-01-02", "+7 495 123-45-67", "", 0)
	ctx := context.Background()
	_, err := e.svc.Issue(ctx, "900010", "anna")
	var le *Error
	if !errors.As(err, &le) || le.Card || !strings.Contains(le.RU, "отправка SMS в medsync не настроена") ||
		!strings.Contains(le.RU, "обратитесь к администратору medsync") || strings.Contains(le.RU, "Исправьте контакты") {
		t.Errorf("valid phone, SMS not set up: %v (%q)", err, RU(err))
	}
	// A landline is the card's problem, whatever the set-up.
	_, err = e.svc.Issue(ctx, "900011", "anna")
	if !errors.As(err, &le) || !le.Card || !strings.Contains(le.RU, "Исправьте контакты в карте пациента") {
		t.Errorf("landline: %v (%q)", err, RU(err))
	}
}
