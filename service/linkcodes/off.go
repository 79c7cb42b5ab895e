package linkcodes

import (
	"html/template"
	"net/http"

	"medsync/service/config"
)

// OffHandler answers under Prefix when the registrar page is switched off: a Russian
// page saying so and what clinic IT changes to switch it on, instead of a bare 404.
func OffHandler(cfg *config.Config) http.Handler {
	why := "Страница регистратора выключена: в файле настроек medsync для неё стоит enabled = false или нет раздела [registrar]."
	if !cfg.LinkCodes.Enabled {
		why = "Страница регистратора выключена: коды привязки пациентов в medsync не включены (раздел [linkcodes])."
	}
	data := map[string]string{"Why": why, "File": cfg.File}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		_ = offPage.Execute(w, data)
	})
}

var offPage = template.Must(template.New("off").Parse(`<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>medsync — страница регистратора выключена</title>
<style>body{font-family:Segoe UI,Arial,sans-serif;margin:2em;max-width:46em;color:#222} code{background:#f2f2f2;padding:0 .3em}</style></head>
<body><h1>Страница регистратора выключена</h1>
<p>{{.Why}}</p>
<p>Чтобы включить её, администратор medsync (ИТ-отдел клиники) открывает файл <code>{{.File}}</code> и пишет:</p>
<pre><code>[linkcodes]
enabled = true
; как отправлять коды: SMS (sms_login, sms_password) или e-mail (smtp_host, smtp_from)

[registrar]
enabled = true
user.ИМЯ = хеш пароля (команда: medsync passwd ИМЯ)</code></pre>
<p>затем проверяет настройки командой <code>medsync check</code> и перезапускает службу medsync.</p>
<p><a href="/">Состояние службы medsync</a></p>
</body></html>
`))
