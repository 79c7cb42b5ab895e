package status

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// entityRU names the canonical entities as registrars and clinic IT call them.
var entityRU = map[string]string{
	"branch": "Филиалы", "specialty": "Специальности", "doctor": "Врачи", "service": "Услуги",
	"shift": "Смены (расписание)", "slot": "Слоты", "appointment": "Записи на приём", "patient": "Пациенты",
}

var funcs = template.FuncMap{
	"schedule": scheduleRU,
	"subtract": func(a, b int) int { return a - b },
	"join":     strings.Join,
	"entity": func(e string) string {
		if ru, ok := entityRU[e]; ok {
			return ru + " (" + e + ")"
		}
		return e
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Format("02.01.2006 15:04:05 (UTC-07:00)")
	},
	"state": func(s string) string {
		return map[string]string{"waiting": "ждёт", "reading": "читается", "done": "готово"}[s]
	},
	"rate": func(r float64) string {
		if r <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f строк/с", r)
	},
	"eta": func(d time.Duration, state string, expected int) string {
		switch {
		case state == "done":
			return "—"
		case expected == 0:
			return "оценка появится после первого опроса"
		case d <= 0:
			return "—"
		case d < time.Minute:
			return fmt.Sprintf("%d с", int(d.Seconds()))
		}
		return fmt.Sprintf("%d мин %02d с", int(d.Minutes()), int(d.Seconds())%60)
	},
	"secs": func(d time.Duration) string { return strings.Replace(fmt.Sprintf("%.2f с", d.Seconds()), ".", ",", 1) },
	"mode": func(m string) string {
		switch m {
		case "versions":
			return "по версиям"
		case "summary":
			return "по сводкам дней"
		case "full":
			return "полное чтение"
		}
		return m
	},
}

// chart is the inline SVG of the last 24 hours.
type chart struct {
	W, H            int
	Duration, Queue string // polyline points
	MaxSeconds      string
	MaxQueue        int
	HasQueue        bool
	Marks           []mark // failed polls
	Ticks           []tick
	Empty           bool
	Short           string // how long the history is, when under a day («2 ч 15 мин»)
}

type mark struct{ X, Y float64 }
type tick struct {
	X     float64
	Label string
}

func buildChart(f *Facts) chart {
	c := chart{W: 720, H: 160, Empty: len(f.History) == 0}
	if c.Empty {
		return c
	}
	end := f.Now
	// The time axis covers the history there is, up to 24 hours: a service that
	// started an hour ago gets a readable hour, not a sliver at the right edge.
	start := end.Add(-24 * time.Hour)
	if first := f.History[0].At.Truncate(15 * time.Minute); first.After(start) && end.Sub(first) < 23*time.Hour {
		start = first
		if end.Sub(start) < time.Hour {
			start = end.Add(-time.Hour)
		}
	}
	span := end.Sub(start)
	if span < 23*time.Hour {
		h, m := int(span.Hours()), int(span.Minutes())%60
		c.Short = fmt.Sprintf("%d мин", m)
		if h > 0 {
			c.Short = fmt.Sprintf("%d ч %d мин", h, m)
		}
	}
	maxS := 0.0
	for _, p := range f.History {
		maxS = max(maxS, p.Seconds)
		if p.Queue >= 0 {
			c.HasQueue = true
			c.MaxQueue = max(c.MaxQueue, p.Queue)
		}
	}
	if maxS == 0 {
		maxS = 1
	}
	qMax := max(c.MaxQueue, 1)
	c.MaxSeconds = strings.Replace(fmt.Sprintf("%.1f с", maxS), ".", ",", 1)
	const top, bottom, left, right = 10.0, 20.0, 40.0, 40.0
	plotW, plotH := float64(c.W)-left-right, float64(c.H)-top-bottom
	x := func(t time.Time) float64 { return left + plotW*float64(t.Sub(start))/float64(span) }
	var d, q []string
	for _, p := range f.History {
		px := x(p.At)
		py := top + plotH*(1-p.Seconds/maxS)
		d = append(d, fmt.Sprintf("%.1f,%.1f", px, py))
		if !p.OK {
			c.Marks = append(c.Marks, mark{X: px, Y: py})
		}
		if p.Queue >= 0 {
			q = append(q, fmt.Sprintf("%.1f,%.1f", px, top+plotH*(1-float64(p.Queue)/float64(qMax))))
		}
	}
	c.Duration, c.Queue = strings.Join(d, " "), strings.Join(q, " ")
	step := 6 * time.Hour
	for _, st := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour} {
		if span/st <= 6 {
			step = st
			break
		}
	}
	for t := start; !t.After(end); t = t.Add(step) {
		c.Ticks = append(c.Ticks, tick{X: x(t), Label: t.Format("15:04")})
	}
	return c
}

type pageData struct {
	*Facts
	Chart chart
}

var page = template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="60">
<title>medsync — состояние службы {{.Service}}</title>
<style>
body{font-family:Segoe UI,Arial,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left} td.n{text-align:right}
.ok{background:#e7f6e7;border:1px solid #7c7;padding:.6em 1em} .bad{background:#fdeaea;border:1px solid #d66;padding:.6em 1em}
.warn{background:#fff6dc;border:1px solid #e0b040;padding:.6em 1em} code{background:#f2f2f2;padding:0 .3em}
.err{color:#a00} .muted{color:#777}
</style>
</head>
<body>
<h1>medsync — состояние службы «{{.Service}}»</h1>
<p class="muted">Конфигурация: {{.Config}} · Сейчас: {{when .Now}} · Расписание: {{schedule .Schedule}}{{if not .Daemon}} · служба не отвечает, данные из хранилища состояния{{end}}</p>
{{with .Running}}<div class="{{if .First}}warn{{else}}ok{{end}}" id="progress"><strong>{{if .First}}Идёт первый опрос МИС{{else}}Идёт опрос МИС{{end}}</strong>, начат {{when .Started}}.
{{if .First}}Первый опрос читает из МИС все данные и на большой базе занимает минуты — это не ошибка; данные уходят в коннекторы по мере чтения.{{end}}
<table id="progress-table">
<tr><th>Сущность</th><th>Состояние</th><th>Прочитано строк</th><th>Скорость</th><th>Осталось примерно</th></tr>
{{range .Entities}}<tr><td>{{entity .Entity}}</td><td>{{state .State}}</td><td class="n">{{.Rows}}{{if .Expected}} из ≈{{.Expected}}{{end}}</td><td class="n">{{rate .Rate}}</td><td class="n">{{eta .ETA .State .Expected}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Healthy}}{{if not .LastOK.IsZero}}<p class="ok" id="health"><strong>Работает нормально.</strong> Последний успешный опрос МИС: {{when .LastOK}}.</p>{{end}}
{{else}}<div class="bad" id="health"><strong>Есть проблема.</strong>
{{if not .LastPoll}} Ещё не завершился ни один опрос МИС.
{{else if .LastOK.IsZero}} Ни один опрос МИС не прошёл успешно.
{{else}} Нет успешного опроса МИС с {{when .LastOK}} — дольше трёх интервалов опроса.{{end}}
{{with .LastPoll}}{{if .Error}}<br>Ошибка последнего опроса: <span class="err">{{.Error}}</span>{{end}}{{end}}
<br>Запустите <code>medsync check</code> и посмотрите журнал службы.</div>{{end}}

{{if .HeldTotal}}<div class="warn" id="held"><strong>Удаления задержаны: {{.HeldTotal}}.</strong>
За один опрос из МИС исчезло слишком много записей, и medsync не стал передавать их удаление.
{{range .Held}}<br>{{entity .Entity}}: {{.Count}}{{if .Flips}} (из них освобождение занятых слотов: {{.Flips}}){{end}}{{if .Confirmed}} (подтверждено: {{.Confirmed}}){{end}}{{end}}
<br>Проверьте МИС. Список: <code>medsync deletions list</code>. Если записи действительно удалены, подтвердите: <code>medsync deletions confirm</code>{{if .HeldReview}} или на странице <a href="{{.HeldReview}}">«Задержанные удаления»</a> (для администраторов medsync){{end}}.</div>{{end}}

{{if .Unmapped}}<div class="warn" id="unmapped"><strong>В МИС есть коды, которых нет в профиле.</strong>
{{range .Unmapped}}<br>{{entity .Entity}}, поле {{.Column}}: код «{{.Code}}» — записей: {{.Rows}}{{if .Default}}, передаются как «{{.Default}}»{{else}}, такие записи пропускаются{{end}} (например: {{join .Keys ", "}}){{end}}
<br>Добавьте коды в map.&lt;поле&gt; файла profile.ini профиля (или map.&lt;поле&gt;.* для всех остальных кодов) и проверьте: <code>medsync check</code>.</div>{{end}}

{{range .Drift}}<div class="warn" id="drift-{{.Entity}}"><strong>Столбец версии МИС пропускает изменения: {{entity .Entity}}.</strong>
Полное чтение {{when .At}} нашло записей, изменённых без изменения версии: {{.Count}} (например: {{join .Keys ", "}}).
Между полными чтениями такие изменения не передаются. Добавьте в МИС триггер, обновляющий столбец изменения при каждом изменении строки, или уберите из профиля запрос <code>{{.Entity}}.versions</code>.</div>
{{end}}
<h2>Опросы МИС</h2>
<table>
<tr><th>Последний опрос</th><td>{{with .LastPoll}}{{when .Started}}, длительность {{secs .Duration}}, {{if .OK}}успешно{{else}}<span class="err">с ошибками</span>{{end}}{{else}}ещё не было{{end}}</td></tr>
<tr><th>Следующий опрос</th><td>{{if .Running}}идёт сейчас (начат {{when .Running.Started}}){{else if .NextPoll.IsZero}}{{if .Daemon}}сразу после запуска{{else}}служба не запущена{{end}}{{else}}{{when .NextPoll}}{{end}}</td></tr>
<tr><th>Последний успешный опрос</th><td>{{when .LastOK}}</td></tr>
</table>

<h2>Данные по сущностям (последний опрос)</h2>
{{if .Entities}}<table id="entities">
<tr><th>Сущность</th><th>Режим</th><th>Прочитано</th><th>Пропущено</th><th>Изменено</th><th>Удалено</th><th>Задержано</th><th>Время</th><th>Ошибка</th></tr>
{{range .Entities}}<tr><td>{{entity .Entity}}</td><td>{{mode .Mode}}</td><td class="n">{{.Read}}</td><td class="n">{{.Skipped}}</td><td class="n">{{.Upserts}}</td><td class="n">{{.Deletes}}</td><td class="n">{{.Held}}</td><td class="n">{{secs .Duration}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>Опросов ещё не было.</p>{{end}}

<h2>Коннекторы</h2>
{{if .Connectors}}<table id="connectors">
<tr><th>Коннектор</th><th>Тип</th><th>В очереди</th><th>Доставлено с запуска</th><th>Из них повторы</th><th>Недоставленные</th><th>Последняя ошибка</th></tr>
{{range .Connectors}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td class="n">{{.Queued}}</td><td class="n">{{.Delivered}}</td><td class="n">{{.Retrying}}</td><td class="n">{{.DeadLetters}}</td><td class="err">{{if not .PausedUntil.IsZero}}<span class="pause">Передача приостановлена до {{when .PausedUntil}}: сервер попросил повторить позже (Retry-After).</span> {{end}}{{.LastError}}</td></tr>
{{end}}</table>
<p class="muted">Недоставленные события: <code>medsync dlq list</code>, отправить повторно: <code>medsync dlq replay</code>.</p>
{{else}}<p>Ни один коннектор не включён: МИС читается, но данные никуда не передаются.</p>{{end}}

{{if .Listeners}}<h2>Сервисы, которые вызывают medsync</h2>
<table id="listeners">
<tr><th>Коннектор</th><th>Сервис</th><th>Адрес</th><th>Защита</th><th>Состояние</th><th>Запросы (ошибки)</th></tr>
{{range .Listeners}}{{$l := .}}<tr><td>{{.Connector}}</td><td>{{.Name}}</td><td>{{.URL}}</td><td>{{if .TLS}}HTTPS{{else}}HTTP без шифрования{{end}}, {{.Auth}}</td>
<td>{{if .Healthy}}работает{{else}}<span class="err">{{if .Error}}не работает: {{.Error}}{{else if .Serving}}данные не загружены{{else}}не слушает{{end}}</span>{{end}}<br><span class="muted">{{.Detail}}</span></td>
<td>{{range $op, $n := .Requests}}{{$op}}: {{$n}}{{with index $l.Errors $op}} (ошибок: {{.}}){{end}}<br>{{end}}</td></tr>
{{if .Problems}}<tr><td></td><td colspan="5" class="warn">{{range .Problems}}{{.}}<br>{{end}}</td></tr>{{end}}
{{end}}</table>{{end}}

<h2>Последние 24 часа{{if .Chart.Short}} (данные есть за {{.Chart.Short}}){{end}}</h2>
{{with .Chart}}{{if .Empty}}<p>За последние сутки опросов не было.</p>{{else}}
<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="Длительность опроса и очередь за 24 часа">
<rect x="40" y="10" width="{{subtract .W 80}}" height="{{subtract .H 30}}" fill="#fafafa" stroke="#ccc"/>
{{range .Ticks}}<text x="{{.X}}" y="{{$.Chart.H}}" font-size="10" text-anchor="middle" fill="#555">{{.Label}}</text>{{end}}
<text x="36" y="18" font-size="10" text-anchor="end" fill="#1f5fbf">{{.MaxSeconds}}</text>
<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="{{.Duration}}"/>
{{range .Marks}}<circle cx="{{.X}}" cy="{{.Y}}" r="3" fill="#c00"/>{{end}}
{{if .HasQueue}}<text x="{{subtract .W 36}}" y="18" font-size="10" fill="#d07000">{{.MaxQueue}}</text>
<polyline fill="none" stroke="#d07000" stroke-width="1.5" stroke-dasharray="4 2" points="{{.Queue}}"/>{{end}}
</svg>
<p class="muted"><span style="color:#1f5fbf">— длительность опроса</span> (шкала слева), {{if .HasQueue}}<span style="color:#d07000">- - очередь событий</span> (шкала справа), {{end}}<span style="color:#c00">●</span> опрос с ошибкой.</p>
{{end}}{{end}}
<p class="muted">Страница обновляется раз в минуту. Метрики Prometheus: <a href="metrics">/metrics</a>, проверка живости: <a href="healthz">/healthz</a>, данные: <a href="status.json">/status.json</a>.</p>
</body>
</html>
`))

func renderPage(w io.Writer, f *Facts) error {
	return page.Execute(w, pageData{Facts: f, Chart: buildChart(f)})
}

// scheduleRU words the schedule for the page: "every 5 min" → «каждые 5 мин»; a cron
// expression is shown as it is written in config.ini.
func scheduleRU(s string) string {
	var n int
	if _, err := fmt.Sscanf(s, "every %d min", &n); err == nil {
		return fmt.Sprintf("каждые %d мин", n)
	}
	return s
}
