package fer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"medsync/mapping/demo"
)

// nodeSOAPDir is where .ci/run installs the npm package soap (node-soap).
func nodeSOAPDir(t *testing.T) string {
	dir := os.Getenv("MEDSYNC_NODESOAP_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "medsync-nodesoap")
	}
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "soap"))
	if nodeErr != nil || modErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and the npm package soap in %s are required in CI (.ci/run installs them)", dir)
		}
		t.Skipf("node-soap not installed: npm install --prefix %s soap@1", dir)
	}
	return dir
}

type nodeCall struct {
	Operation   string         `json:"operation"`
	Result      map[string]any `json:"result"`
	Error       string         `json:"error"`
	RawRequest  string         `json:"rawRequest"`
	RawResponse string         `json:"rawResponse"`
}

var (
	envBodyRe = regexp.MustCompile(`(?s)<(?:[\w-]+:)?Body[^>]*>(.*)</(?:[\w-]+:)?Body>`)
	envNSRe   = regexp.MustCompile(`xmlns(?::[\w-]+)?="[^"]*"`)
	envOpenRe = regexp.MustCompile(`(?s)<(?:[\w-]+:)?Envelope[^>]*>`)
	firstElRe = regexp.MustCompile(`^\s*<[\w:-]+`)
)

// messageOf is the operation element of a SOAP envelope written by anyone, carrying
// the namespace declarations of the envelope so that it validates on its own.
func messageOf(t *testing.T, env string) string {
	t.Helper()
	m := envBodyRe.FindStringSubmatch(env)
	if m == nil {
		t.Fatalf("no Body in\n%s", env)
	}
	decls := envNSRe.FindAllString(envOpenRe.FindString(env), -1)
	body := strings.TrimSpace(m[1])
	loc := firstElRe.FindStringIndex(body)
	if loc == nil {
		t.Fatalf("no element in Body:\n%s", env)
	}
	own := body[:strings.Index(body, ">")]
	var add []string
	for _, d := range decls {
		if !strings.Contains(own, d[:strings.Index(d, "=")+1]) {
			add = append(add, d)
		}
	}
	return body[:loc[1]] + " " + strings.Join(add, " ") + body[loc[1]:]
}

// TestNodeSOAPClient: node-soap reads the WSDL medsync serves and calls every
// operation against a running medsync over the demo MIS; every request it sends and
// every answer validate against the schema, and the answers say what the MIS holds.
func TestNodeSOAPClient(t *testing.T) {
	dir := nodeSOAPDir(t)
	s := startStack(t, demo.SQLite, "")
	doc := s.pickDoctor(t, "Asia/Yekaterinburg", 2)
	pat := s.patients(t, 1)[0]
	session := newSession()
	today := time.Now().In(doc.zone)
	from, to := today.Format("2006-01-02"), today.AddDate(0, 0, 13).Format("2006-01-02")
	slot := doc.slots[0]
	pd := func(withOMS bool) ordered {
		d := o("First_Name", pat.first, "Last_Name", pat.last, "Birth_Date", pat.birth, "Sex", "M")
		if withOMS {
			d = append(o("OMS_Number", pat.oms), d...)
		}
		return d
	}
	plan := []map[string]any{
		{"operation": OpGetMOInfoExtended, "args": o("Session_ID", session)},
		{"operation": OpGetServicePostSpecs, "args": o("Session_ID", session, "MO_Id", doc.moID)},
		{"operation": OpGetMOResourceInfo, "args": o("Session_ID", session,
			"Service_Posts", o("Post", []any{o("Post_Id", doc.post)}),
			"MO_OID_List", o("MO_OID", []any{doc.oid}),
			"Start_Date_Range", from, "End_Date_Range", to)},
		{"operation": OpGetScheduleInfo, "args": o("Session_ID", session, "Specialist_SNILS", doc.snils, "MO_OID", doc.oid,
			"Start_Date_Range", from, "End_Date_Range", to, "Start_Time_Range", "00:00:00", "End_Time_Range", "23:59:59")},
		{"operation": OpGetPatientInfo, "args": o("Session_ID", session, "Patient_Data", pd(true))},
		{"operation": OpCreateAppointment, "args": o("Session_ID", session, "Slot_Id", slot.ID), "save": map[string]string{"book": "Book_Id_Mis"}},
		{"operation": OpCancelAppointment, "args": o("Book_Id_Mis", "${book}", "Canceled_Reason", "CANCELED_BY_PATIENT")},
		{"operation": OpGetReferralInfo, "args": o("Session_ID", session, "Patient_Data", pd(false), "Referral_Number", "1")},
		{"operation": OpReferralAppointmentIn, "args": o("Book_Id_Mis", "1", "Referral_Id", "1", "Appointment_Status", "RECORDED",
			"MO_OID", doc.oid, "MO_Name", "Клиника", "Resource_Name", "Иванова М. П.", "Visit_Time", "2026-12-02T09:00:00+05:00")},
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	b, _ := json.Marshal(plan)
	if err := os.WriteFile(planFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join("testdata", "nodesoap_client.js"), s.url+"?wsdl", testUser, testPassword, planFile)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node-soap client: %v\n%s", err, stderr.String())
	}
	var calls []nodeCall
	if err := json.Unmarshal(out, &calls); err != nil {
		t.Fatalf("node-soap output: %v\n%s", err, out)
	}
	if len(calls) != len(plan) {
		t.Fatalf("%d calls, want %d", len(calls), len(plan))
	}
	var messages []string
	byOp := map[string]nodeCall{}
	for _, c := range calls {
		if c.Error != "" || c.RawRequest == "" {
			t.Errorf("%s: %s\n%s", c.Operation, c.Error, c.RawResponse)
			continue
		}
		byOp[c.Operation] = c
		messages = append(messages, messageOf(t, c.RawRequest), messageOf(t, c.RawResponse))
	}
	checks := []struct{ op, want string }{
		{OpGetMOInfoExtended, doc.oid},
		{OpGetServicePostSpecs, "<Post_Id>" + doc.post + "</Post_Id>"},
		{OpGetMOResourceInfo, doc.snils},
		{OpGetScheduleInfo, slot.ID},
		{OpGetScheduleInfo, slot.Start.In(doc.zone).Format("2006-01-02T15:04:05") + "+05:00"},
		{OpGetPatientInfo, "<Patient_Id>" + pat.id + "</Patient_Id>"},
		{OpCreateAppointment, "<Status_Code>RECORDED</Status_Code>"},
		{OpCancelAppointment, "<Status_Code>CANCELED</Status_Code>"},
		{OpGetReferralInfo, "<Error_Code>NOT_SUPPORTED</Error_Code>"},
		{OpReferralAppointmentIn, "<Status_Code>NOT_SUPPORTED</Status_Code>"},
	}
	for _, c := range checks {
		if !strings.Contains(byOp[c.op].RawResponse, c.want) {
			t.Errorf("%s: answer lacks %s:\n%s", c.op, c.want, byOp[c.op].RawResponse)
		}
	}
	if r := byOp[OpGetPatientInfo].Result; r["Patient_Id"] != pat.id {
		t.Errorf("node-soap parsed GetPatientInfo as %v", r)
	}
	validate(t, messages...)
}

// ordered is an object whose keys keep their order in JSON ({"$o": [[k, v], …]}, see
// testdata/nodesoap_client.js): the schema's sequences are ordered.
type ordered [][2]any

func o(kv ...any) ordered {
	var out ordered
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]any{kv[i], kv[i+1]})
	}
	return out
}

func (x ordered) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"$o": [][2]any(x)})
}
