package linkcodes

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// Deletions is the state store's list of deletions the mass-disappearance guard holds
// (and the slot changes they imply), for registrar admins to review: the status page
// has no sign-in, so the choice is made here, by a named user, and audited.
type Deletions interface {
	// HeldDeletions lists held records per entity: how many, how many confirmed
	// already, since when, and a few keys.
	HeldDeletions(ctx context.Context) ([]HeldGroup, error)
	// ConfirmDeletions releases an entity's held deletions: the next poll sends those
	// still missing from the MIS. It returns how many were confirmed.
	ConfirmDeletions(ctx context.Context, entity string) (int, error)
}

// HeldGroup is one entity's held deletions.
type HeldGroup struct {
	Entity    string
	Count     int
	Confirmed int
	Since     time.Time
	Keys      []string // a few of them, to look up in the MIS
}

// heldPage is the review page's content.
type heldPage struct {
	Groups []HeldGroup
	Total  int
}

// Audit actions of the review.
const (
	actionConfirmDeletions = "confirm_deletions"
	actionKeepDeletions    = "keep_deletions"
)

func (w *web) mountDeletions() {
	template.Must(w.tmpl.New("held").Parse(heldHTML))
	w.mux.HandleFunc("GET "+Prefix+"deletions", w.authedGet(w.admin(w.deletions)))
	w.mux.HandleFunc("POST "+Prefix+"deletions/confirm", w.authed(w.admin(w.confirmDeletions)))
	w.mux.HandleFunc("POST "+Prefix+"deletions/keep", w.authed(w.admin(w.keepDeletions)))
}

// admin lets only users listed in [registrar] admins through.
func (w *web) admin(h func(http.ResponseWriter, *http.Request, *session)) func(http.ResponseWriter, *http.Request, *session) {
	return func(rw http.ResponseWriter, r *http.Request, ss *session) {
		if !w.s.o.Registrar.Admins[ss.User] {
			w.s.log.Warn("registrar page: held deletions refused to a user without the admin role", "user", ss.User)
			w.render(rw, http.StatusForbidden, &page{Title: "Нет доступа", User: ss.User, CSRF: ss.CSRF,
				Error: "Задержанные удаления рассматривает администратор medsync. Ваша учётная запись не указана в [registrar] admins."})
			return
		}
		h(rw, r, ss)
	}
}

func (w *web) heldPage(ctx context.Context, ss *session) (*page, int) {
	p := &page{Title: "Задержанные удаления", User: ss.User, CSRF: ss.CSRF, Held: &heldPage{}}
	if w.s.o.Deletions == nil {
		p.Error = "Список задержанных удалений здесь недоступен; используйте команды medsync deletions list и medsync deletions confirm."
		return p, http.StatusOK
	}
	groups, err := w.s.o.Deletions.HeldDeletions(ctx)
	if err != nil {
		w.s.log.Error("registrar page: held deletions", "error", err)
		p.Error = "Не удалось прочитать задержанные удаления из хранилища состояния; подробности в журнале medsync."
		return p, http.StatusInternalServerError
	}
	p.Held.Groups = groups
	for _, g := range groups {
		p.Held.Total += g.Count - g.Confirmed
	}
	return p, http.StatusOK
}

func (w *web) deletions(rw http.ResponseWriter, r *http.Request, ss *session) {
	p, code := w.heldPage(r.Context(), ss)
	w.render(rw, code, p)
}

func (w *web) confirmDeletions(rw http.ResponseWriter, r *http.Request, ss *session) {
	entity := r.PostFormValue("entity")
	if w.s.o.Deletions == nil || entity == "" {
		w.deletions(rw, r, ss)
		return
	}
	n, err := w.s.o.Deletions.ConfirmDeletions(r.Context(), entity)
	if err == nil {
		err = w.s.st.addAudit(r.Context(), AuditEntry{At: w.s.now(), Actor: ss.User, Action: actionConfirmDeletions, Detail: fmt.Sprintf("%s: %d", entity, n)})
	}
	p, code := w.heldPage(r.Context(), ss)
	if err != nil {
		w.s.log.Error("registrar page: confirm held deletions", "entity", entity, "error", err)
		p.Error, code = "Не удалось подтвердить удаления; подробности в журнале medsync.", http.StatusInternalServerError
	} else {
		w.s.log.Info("held deletions confirmed on the registrar page", "user", ss.User, "entity", entity, "count", n)
		p.Notice = fmt.Sprintf("Подтверждено удалений: %d (%s). Следующий опрос передаст удаление тех записей, которых по-прежнему нет в МИС.", n, entityRU(entity))
	}
	w.render(rw, code, p)
}

func (w *web) keepDeletions(rw http.ResponseWriter, r *http.Request, ss *session) {
	entity := r.PostFormValue("entity")
	err := w.s.st.addAudit(r.Context(), AuditEntry{At: w.s.now(), Actor: ss.User, Action: actionKeepDeletions, Detail: entity})
	p, code := w.heldPage(r.Context(), ss)
	if err != nil {
		p.Error, code = "Не удалось записать решение в журнал аудита; подробности в журнале medsync.", http.StatusInternalServerError
	} else {
		w.s.log.Info("held deletions kept on the registrar page", "user", ss.User, "entity", entity)
		p.Notice = "Удаления остаются задержанными: ничего не передано, записи остаются у партнёров. Если записи вернутся в МИС, задержка снимется сама; если их удалили по ошибке — восстановите их в МИС."
	}
	w.render(rw, code, p)
}

func entityRU(e string) string {
	if ru, ok := map[string]string{"branch": "филиалы", "specialty": "специальности", "doctor": "врачи", "service": "услуги",
		"shift": "смены", "slot": "слоты", "appointment": "записи на приём", "patient": "пациенты"}[e]; ok {
		return ru
	}
	return e
}

const heldHTML = `<div class="box" id="held"><h2>Задержанные удаления</h2>
{{with .Held}}{{if .Groups}}
<p>За один опрос из МИС исчезло слишком много записей, и medsync не передал их удаление (и освобождение слотов, которое из него следует) партнёрам. Проверьте МИС: если записи действительно удалены — подтвердите; если это сбой или ошибка в МИС — оставьте задержанными и восстановите данные в МИС.</p>
<table id="held-table"><tr><th>Что</th><th>Задержано</th><th>Подтверждено</th><th>С</th><th>Например (ключи в МИС)</th><th></th></tr>
{{range .Groups}}<tr><td>{{.Entity}}</td><td>{{.Count}}</td><td>{{.Confirmed}}</td><td>{{when .Since}}</td><td>{{range $i, $k := .Keys}}{{if $i}}, {{end}}{{$k}}{{end}}</td>
<td class="actions"><form method="post" action="/registrar/deletions/confirm"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="entity" value="{{.Entity}}"><button class="danger" id="confirm-{{.Entity}}">Подтвердить удаление</button></form>
<form method="post" action="/registrar/deletions/keep"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="entity" value="{{.Entity}}"><button id="keep-{{.Entity}}">Оставить задержанными</button></form></td></tr>
{{end}}</table>
<p>Решение записывается в журнал аудита с вашим именем. То же в командной строке: <code>medsync deletions list</code>, <code>medsync deletions confirm</code>.</p>
{{else}}<p>Задержанных удалений нет.</p>{{end}}{{end}}
</div>`
