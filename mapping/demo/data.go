package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Reference data of the demo clinic network. Everything here is invented; names are
// common Russian and Tatar ones, service codes follow the Номенклатура медицинских услуг.

type branchData struct {
	name, address, phone string
	tz, oid              string // "" = NULL
}

var branchList = []branchData{
	{"Клиника на Ленина", "420111, Республика Татарстан, г. Казань, ул. Ленина, д. 12", "+7 (843) 212-40-40", "", "1.2.643.5.1.13.13.12.2.16.11021"},
	{"Клиника на Баумана", "420111, Республика Татарстан, г. Казань, ул. Баумана, д. 44/8", "+7 (843) 212-40-41", "Europe/Moscow", "1.2.643.5.1.13.13.12.2.16.11022"},
	{"Клиника на Тверской", "125009, г. Москва, ул. Тверская, д. 7, стр. 1", "+7 (495) 120-33-70", "Europe/Moscow", ""},
	{"Клиника на Проспекте Победы", "420138, Республика Татарстан, г. Казань, пр-т Победы, д. 91", "8 (843) 590-11-22", "", "1.2.643.5.1.13.13.12.2.16.11023"},
	{"Клиника в Екатеринбурге", "620014, Свердловская обл., г. Екатеринбург, ул. Малышева, д. 51", "+7 (343) 310-20-20", "Asia/Yekaterinburg", ""},
	{"Детское отделение на Чистопольской", "420066, Республика Татарстан, г. Казань, ул. Чистопольская, д. 20А", "+7 (843) 212-40-45", "Europe/Moscow", "1.2.643.5.1.13.13.12.2.16.11024"},
}

type specData struct {
	name, code, gen string // gen: genitive, for «Приём терапевта»
	nmu             string // Номенклатура медицинских услуг prefix of the visit codes
	weight          int    // how many doctors of this specialty a clinic keeps, relatively
	extra           []serviceData
}

type serviceData struct {
	name, code string
	price      float64
	duration   int // 0 = NULL
	online     bool
	showOnline bool
}

var specList = []specData{
	{"Терапевт", "76", "терапевта", "B01.047", 6, []serviceData{
		{"Оформление справки для бассейна", "B04.047.002", 700, 15, false, false},
	}},
	{"Педиатр", "68", "педиатра", "B01.031", 4, nil},
	{"Невролог", "53", "невролога", "B01.023", 3, nil},
	{"Кардиолог", "23", "кардиолога", "B01.015", 2, []serviceData{
		{"Электрокардиография с расшифровкой", "A05.10.006", 1100, 20, false, true},
	}},
	{"Офтальмолог", "65", "офтальмолога", "B01.029", 2, []serviceData{
		{"Подбор очков", "A23.26.001", 900, 30, false, true},
	}},
	{"Стоматолог-терапевт", "86", "стоматолога-терапевта", "B01.065", 3, []serviceData{
		{"Лечение кариеса (пломба светового отверждения)", "A16.07.002", 4500, 60, false, false},
	}},
	{"Гинеколог", "2", "гинеколога", "B01.001", 3, nil},
	{"Оториноларинголог", "62", "оториноларинголога", "B01.028", 2, []serviceData{
		{"Удаление серной пробки", "A16.25.007", 800, 15, false, true},
	}},
	{"Хирург", "112", "хирурга", "B01.057", 2, nil},
	{"Эндокринолог", "122", "эндокринолога", "B01.058", 2, []serviceData{
		{"УЗИ щитовидной железы", "A04.22.001", 1600, 20, false, true},
	}},
	{"Уролог", "104", "уролога", "B01.053", 1, nil},
	{"Дерматовенеролог", "", "дерматовенеролога", "B01.008", 1, nil},
	{"Травматолог-ортопед", "100", "травматолога-ортопеда", "B01.050", 1, nil},
	{"Гастроэнтеролог", "", "гастроэнтеролога", "B01.004", 1, nil},
}

// Services without a specialty: the lab and the treatment room.
var commonServices = []serviceData{
	{"Общий (клинический) анализ крови", "B03.016.002", 450, 0, false, false},
	{"Анализ крови биохимический общетерапевтический", "B03.016.004", 1900, 0, false, false},
	{"Взятие крови из периферической вены", "A11.12.009", 200, 10, false, false},
	{"Внутримышечная инъекция", "A11.02.002", 250, 10, false, false},
}

var delReasons = []string{
	"Пациент отменил запись",
	"Болезнь врача",
	"Перенос по просьбе пациента",
	"Ошибка регистратора",
	"Не дозвонились до пациента",
}

var maleLast = []string{
	"Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
	"Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
	"Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
	"Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
	"Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв", "Гусев", "Киселёв",
	"Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
	"Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев",
	"Герасимов", "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов", "Марков", "Миронов",
	"Крылов", "Куликов", "Карпов", "Власов", "Мельников", "Денисов", "Гаврилов", "Тихонов",
	"Хабибуллин", "Сафин", "Гарипов", "Нуриев", "Валиев", "Зарипов", "Галиев", "Шарипов",
	"Ахметов", "Гилязов", "Мухаметзянов", "Хайруллин", "Садыков", "Фаттахов", "Мингазов",
	"Закиров", "Гайнуллин", "Латыпов", "Исмагилов", "Каримов", "Вишневский", "Покровский",
	"Шевченко", "Бондаренко", "Черных", "Коваленко",
}

var maleFirst = []string{
	"Александр", "Алексей", "Андрей", "Артём", "Владимир", "Дмитрий", "Евгений", "Иван",
	"Игорь", "Илья", "Кирилл", "Максим", "Михаил", "Никита", "Николай", "Павел", "Роман",
	"Сергей", "Юрий", "Олег", "Виктор", "Константин", "Денис", "Антон", "Тимур", "Руслан",
	"Рустам", "Марат", "Айдар", "Ильдар", "Ринат", "Азат", "Булат", "Камиль", "Артур",
}

var femaleFirst = []string{
	"Анна", "Екатерина", "Мария", "Ольга", "Татьяна", "Елена", "Наталья", "Ирина", "Светлана",
	"Юлия", "Анастасия", "Дарья", "Ксения", "Марина", "Виктория", "Алина", "Полина",
	"Елизавета", "Софья", "Людмила", "Галина", "Надежда", "Вера", "Любовь", "Гульнара",
	"Альбина", "Лилия", "Эльвира", "Айгуль", "Гузель", "Резеда", "Ляйсан", "Диляра", "Регина",
	"Алсу",
}

// Patronymics, male and female forms.
var patronymics = [][2]string{
	{"Александрович", "Александровна"}, {"Алексеевич", "Алексеевна"}, {"Андреевич", "Андреевна"},
	{"Владимирович", "Владимировна"}, {"Дмитриевич", "Дмитриевна"}, {"Евгеньевич", "Евгеньевна"},
	{"Иванович", "Ивановна"}, {"Игоревич", "Игоревна"}, {"Михайлович", "Михайловна"},
	{"Николаевич", "Николаевна"}, {"Павлович", "Павловна"}, {"Петрович", "Петровна"},
	{"Сергеевич", "Сергеевна"}, {"Юрьевич", "Юрьевна"}, {"Олегович", "Олеговна"},
	{"Викторович", "Викторовна"}, {"Константинович", "Константиновна"}, {"Анатольевич", "Анатольевна"},
	{"Васильевич", "Васильевна"}, {"Геннадьевич", "Геннадьевна"}, {"Валерьевич", "Валерьевна"},
	{"Фёдорович", "Фёдоровна"}, {"Рустамович", "Рустамовна"}, {"Маратович", "Маратовна"},
	{"Ильдарович", "Ильдаровна"}, {"Ринатович", "Ринатовна"}, {"Рашидович", "Рашидовна"},
	{"Фаридович", "Фаридовна"}, {"Ильич", "Ильинична"},
}

var appointmentComments = []string{
	"Первичный приём",
	"Повторно по результатам анализов",
	"Просил перезвонить накануне",
	"Направление от терапевта",
	"Оплата по ДМС",
	"Со своими снимками",
}

// femaleLast gives the female form of a male surname.
func femaleLast(s string) string {
	switch {
	case strings.HasSuffix(s, "ский"):
		return strings.TrimSuffix(s, "ий") + "ая"
	case strings.HasSuffix(s, "ов"), strings.HasSuffix(s, "ев"), strings.HasSuffix(s, "ёв"),
		strings.HasSuffix(s, "ин"), strings.HasSuffix(s, "ын"):
		return s + "а"
	}
	return s // Шевченко, Черных
}

type person struct {
	last, first, mid string
	male             bool
}

func randomPerson(r *rand.Rand) person {
	male := r.IntN(2) == 0
	last := maleLast[r.IntN(len(maleLast))]
	p := patronymics[r.IntN(len(patronymics))]
	if male {
		return person{last, maleFirst[r.IntN(len(maleFirst))], p[0], true}
	}
	return person{femaleLast(last), femaleFirst[r.IntN(len(femaleFirst))], p[1], false}
}

// snilsCheck is the СНИЛС control number of a 9-digit number.
func snilsCheck(n int) int {
	sum := 0
	for w := 1; w <= 9; w++ {
		sum += (n % 10) * w
		n /= 10
	}
	for sum > 101 {
		sum %= 101
	}
	if sum == 100 || sum == 101 {
		return 0
	}
	return sum
}

func formatSNILS(n, check int) string {
	return fmt.Sprintf("%03d-%03d-%03d %02d", n/1000000, n/1000%1000, n%1000, check)
}

// randomSNILS is a valid СНИЛС, formatted "123-456-789 64". Numbers up to 001-001-998
// carry no checksum, so they are avoided.
func randomSNILS(r *rand.Rand) string {
	n := 2_000_000 + r.IntN(997_000_000)
	return formatSNILS(n, snilsCheck(n))
}

// badSNILS is a СНИЛС whose checksum is wrong.
func badSNILS(r *rand.Rand) string {
	n := 2_000_000 + r.IntN(997_000_000)
	return formatSNILS(n, (snilsCheck(n)+37)%100)
}

// randomPhone is a phone number typed the way registrars type them; every form is one
// that convert.Phone reads (words, extensions and two numbers in one field are bad rows).
func randomPhone(r *rand.Rand) string {
	code := 900 + r.IntN(100)
	a, b, c := r.IntN(1000), r.IntN(100), r.IntN(100)
	switch r.IntN(12) {
	case 0:
		return fmt.Sprintf("+7 (%d) %03d-%02d-%02d", code, a, b, c)
	case 1:
		return fmt.Sprintf("8 %d %03d %02d %02d", code, a, b, c)
	case 2:
		return fmt.Sprintf("8%d%03d%02d%02d", code, a, b, c)
	case 3:
		return fmt.Sprintf("+7%d%03d%02d%02d", code, a, b, c)
	case 4:
		return fmt.Sprintf("8(%d)%03d-%02d-%02d", code, a, b, c)
	case 5:
		return fmt.Sprintf("%d%03d%02d%02d", code, a, b, c)
	case 6:
		return fmt.Sprintf("7 %d %03d-%02d-%02d", code, a, b, c)
	case 7:
		return fmt.Sprintf("8-%d-%03d-%02d-%02d", code, a, b, c)
	case 8:
		return fmt.Sprintf("8.%d.%03d.%02d.%02d", code, a, b, c)
	case 9:
		return fmt.Sprintf("8 (843) %03d-%02d-%02d", 200+r.IntN(400), b, c) // Kazan landline
	case 10:
		return fmt.Sprintf("+7 %d %03d%02d%02d", code, a, b, c)
	default:
		return fmt.Sprintf(" 8 %d %03d-%02d%02d ", code, a, b, c)
	}
}

var translit = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z",
	'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r",
	'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh",
	'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu", 'я': "ya",
}

func latin(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if t, ok := translit[r]; ok {
			b.WriteString(t)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var mailDomains = []string{"mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru"}

func randomEmail(r *rand.Rand, p person) string {
	var local string
	switch r.IntN(4) {
	case 0:
		local = latin(p.last)
	case 1:
		local = latin(p.first) + "." + latin(p.last)
	case 2:
		local = latin(p.last) + fmt.Sprint(60+r.IntN(45))
	default:
		local = latin(p.first)[:1] + latin(p.last) + fmt.Sprint(r.IntN(1000))
	}
	return local + "@" + mailDomains[r.IntN(len(mailDomains))]
}

// randomPolis is a 16-digit ОМС policy number (единый номер полиса).
func randomPolis(r *rand.Rand) string {
	return fmt.Sprintf("16%07d%07d", r.IntN(10_000_000), r.IntN(10_000_000))
}

// Price of the first visit of each specialty of specList, rubles.
var specPrices = []float64{1500, 1600, 1900, 2100, 1700, 1200, 2000, 1800, 1700, 2100, 1900, 1800, 1900, 2000}

// Specialties (indexes into specList) that offer an online consultation.
var onlineSpecs = map[int]bool{0: true, 1: true, 2: true, 3: true, 6: true, 9: true, 13: true}
