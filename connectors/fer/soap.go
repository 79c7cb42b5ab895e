package fer

import (
	"bytes"
	"embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/template"

	"medsync/mapping/convert"
)

// SOAP 1.1 and 1.2 envelope namespaces.
const (
	soap11 = "http://schemas.xmlsoap.org/soap/envelope/"
	soap12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Error codes of the Error element (Error_Code) and of Status_Code in answers that
// carry no Error element (CreateAppointment, CancelAppointment,
// ReferralAppointmentInformation).
const (
	codeInvalid         = "INVALID_REQUEST"
	codeNoSession       = "SESSION_ID_REQUIRED"
	codeUnknownMO       = "MO_NOT_FOUND"
	codeUnknownDoctor   = "SPECIALIST_NOT_FOUND"
	codeNoSlots         = "NO_FREE_SLOTS"
	codeNoResources     = "NO_RESOURCES"
	codeUnknownSlot     = "SLOT_NOT_FOUND"
	codeSlotTaken       = "SLOT_BUSY"
	codeOutsideShift    = "OUTSIDE_SCHEDULE"
	codeTooLate         = "BOOKING_CUTOFF"
	codePatientUnknown  = "PATIENT_NOT_FOUND"
	codePatientAmbig    = "PATIENT_AMBIGUOUS"
	codePatientRequired = "PATIENT_NOT_IDENTIFIED"
	codeNotSupported    = "NOT_SUPPORTED"
	codeBookUnknown     = "APPOINTMENT_NOT_FOUND"
	codeCancelCutoff    = "CANCEL_CUTOFF"
	codeUnavailable     = "SERVICE_UNAVAILABLE"
	codeInternal        = "INTERNAL_ERROR"
	statusRecorded      = "RECORDED"
	statusCanceled      = "CANCELED"
)

//go:embed schema/er-schema.xsd schema/er-common.xsd
var schemaFS embed.FS

// errDTD refuses a document type declaration: entity declarations are the way into
// XXE and billion-laughs attacks, and no ФЭР message has one.
var errDTD = errors.New("document type declarations (<!DOCTYPE>, <!ENTITY>) are not accepted")

// request is a parsed envelope: the operation and a decoder positioned at its element.
type request struct {
	op    string
	start xml.StartElement
	dec   *xml.Decoder
}

// opFromAction takes the operation from a SOAPAction header ("GetScheduleInfo" or a
// URI ending in it), so that a broken body can still be answered in the operation's
// own response element.
func opFromAction(action string) string {
	a := strings.Trim(strings.TrimSpace(action), `"`)
	if i := strings.LastIndexAny(a, "/#:"); i >= 0 {
		a = a[i+1:]
	}
	a = strings.TrimSuffix(a, "Request")
	for _, op := range Operations {
		if op == a {
			return op
		}
	}
	return ""
}

// hasDTD reports whether body declares a document type or entities.
func hasDTD(body []byte) bool {
	u := bytes.ToUpper(body)
	return bytes.Contains(u, []byte("<!DOCTYPE")) || bytes.Contains(u, []byte("<!ENTITY"))
}

// parseEnvelope finds the operation element in a SOAP 1.1 envelope. On failure it
// returns a message for the caller; req.op is set when the operation is known all the
// same (from the element or SOAPAction), so the answer can be that operation's Error.
func parseEnvelope(body []byte, action string) (*request, *ErrorType) {
	req := &request{op: opFromAction(action)}
	if hasDTD(body) {
		return req, &ErrorType{Code: codeInvalid, Message: "Запрос отклонён: " + errDTD.Error()}
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return req, &ErrorType{Code: codeInvalid, Message: "Запрос не содержит элемента операции в soap:Body"}
		}
		if err != nil {
			return req, &ErrorType{Code: codeInvalid, Message: "Запрос не является корректным XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.Directive:
			return req, &ErrorType{Code: codeInvalid, Message: "Запрос отклонён: " + errDTD.Error()}
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Space == soap12:
				return req, &ErrorType{Code: codeInvalid, Message: "Поддерживается только SOAP 1.1 (пространство имён " + soap11 + ")"}
			case depth == 1 && (t.Name.Space != soap11 || t.Name.Local != "Envelope"):
				return req, &ErrorType{Code: codeInvalid, Message: fmt.Sprintf("Ожидался soap:Envelope (%s), получен %s", soap11, t.Name.Local)}
			case depth == 2 && t.Name.Local == "Header":
				if err := dec.Skip(); err != nil {
					return req, &ErrorType{Code: codeInvalid, Message: "Запрос не является корректным XML: " + err.Error()}
				}
				depth--
			case depth == 2 && t.Name.Local != "Body":
				return req, &ErrorType{Code: codeInvalid, Message: "Ожидался soap:Body, получен " + t.Name.Local}
			case depth == 3:
				return bodyElement(req, dec, t)
			}
		case xml.EndElement:
			depth--
		}
	}
}

func bodyElement(req *request, dec *xml.Decoder, t xml.StartElement) (*request, *ErrorType) {
	name := strings.TrimSuffix(t.Name.Local, "Request")
	op := ""
	for _, o := range Operations {
		if o == name && t.Name.Local == o+"Request" {
			op = o
		}
	}
	if op == "" {
		return req, &ErrorType{Code: codeInvalid, Message: "Неизвестная операция " + t.Name.Local,
			Validation: &ValidationError{Message: "Элемент не описан в схеме " + NS, Path: "/Envelope/Body/" + t.Name.Local}}
	}
	req.op, req.start, req.dec = op, t, dec
	if t.Name.Space != NS {
		ns := t.Name.Space
		if ns == "" {
			ns = "(пусто)"
		}
		return req, &ErrorType{Code: codeInvalid, Message: "Неверное пространство имён элемента " + t.Name.Local + ": ожидалось " + NS,
			Validation: &ValidationError{Message: "Неверное пространство имён", Path: "/" + t.Name.Local, Value: ns}}
	}
	return req, nil
}

// decode reads the operation element into v.
func (r *request) decode(v any) *ErrorType {
	if err := r.dec.DecodeElement(v, &r.start); err != nil {
		return &ErrorType{Code: codeInvalid, Message: "Запрос не соответствует схеме: " + err.Error()}
	}
	return nil
}

// writeEnvelope writes body (a response element) in a SOAP 1.1 envelope.
func writeEnvelope(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString(`<soap:Envelope xmlns:soap="` + soap11 + `"><soap:Body>`)
	if a, ok := body.(appender); ok && a.canAppend() {
		a.appendXML(&buf)
	} else if err := xml.NewEncoder(&buf).Encode(body); err != nil {
		writeFault(w, "soap:Server", "Ответ не сформирован")
		return
	}
	buf.WriteString(`</soap:Body></soap:Envelope>`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeFault answers with a SOAP 1.1 Fault (HTTP 500, as SOAP 1.1 requires), used only
// when no operation can be named to answer with its own Error.
func writeFault(w http.ResponseWriter, code, msg string) {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(msg))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `%s<soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault><faultcode>%s</faultcode><faultstring xml:lang="ru">%s</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
		xml.Header, soap11, code, esc.String())
}

// errorResponse is op's response element carrying e. Operations whose response has no
// Error element carry the code and message in their status fields instead.
func (c *Conn) errorResponse(op, session string, e *ErrorType) any {
	if !guidRe.MatchString(session) {
		session = zeroGUID
	}
	switch op {
	case OpGetPatientInfo:
		return &getPatientInfoResp{SessionID: session, Error: e}
	case OpGetReferralInfo:
		return &getReferralInfoResp{SessionID: session, Error: e}
	case OpGetMOInfoExtended:
		return &getMOInfoResp{SessionID: session, Error: e}
	case OpGetServicePostSpecs:
		return &getServicePostSpecsResp{SessionID: session, Error: e}
	case OpGetMOResourceInfo:
		return &getMOResourceResp{SessionID: session, Error: e}
	case OpGetScheduleInfo:
		return &getScheduleResp{SessionID: session, Error: e}
	case OpCreateAppointment:
		return &createResp{SessionID: session, Status: Status{Code: e.Code, Comment: e.Message}, SlotID: zeroGUID, VisitTime: convert.FormatTime(c.now())}
	case OpCancelAppointment:
		return &cancelResp{BookID: "-", Code: e.Code, Comment: e.Message}
	case OpReferralAppointmentIn:
		return &referralAppResp{BookID: "-", Code: e.Code, Comment: e.Message}
	}
	return nil
}

// wsdlTemplate describes the service: document/literal SOAP 1.1, one operation per
// request/response element pair of the schema, which it imports.
var wsdlTemplate = template.Must(template.New("wsdl").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="ElectronicRegistry" targetNamespace="{{.NS}}"
  xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:er="{{.NS}}">
  <wsdl:types>
    <xsd:schema targetNamespace="{{.NS}}_wsdl" elementFormDefault="qualified">
      <xsd:import namespace="{{.NS}}" schemaLocation="{{.Base}}/er-schema.xsd"/>
    </xsd:schema>
  </wsdl:types>
{{range .Ops}}  <wsdl:message name="{{.}}Request"><wsdl:part name="parameters" element="er:{{.}}Request"/></wsdl:message>
  <wsdl:message name="{{.}}Response"><wsdl:part name="parameters" element="er:{{.}}Response"/></wsdl:message>
{{end}}  <wsdl:portType name="ElectronicRegistryPortType">
{{range .Ops}}    <wsdl:operation name="{{.}}"><wsdl:input message="er:{{.}}Request"/><wsdl:output message="er:{{.}}Response"/></wsdl:operation>
{{end}}  </wsdl:portType>
  <wsdl:binding name="ElectronicRegistryBinding" type="er:ElectronicRegistryPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{{range .Ops}}    <wsdl:operation name="{{.}}"><soap:operation soapAction="{{.}}" style="document"/><wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>
{{end}}  </wsdl:binding>
  <wsdl:service name="ElectronicRegistryService">
    <wsdl:port name="ElectronicRegistryPort" binding="er:ElectronicRegistryBinding"><soap:address location="{{.URL}}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`))

// writeWSDL serves the WSDL for the endpoint at url; the schema files are served next
// to it, under the endpoint's path.
func writeWSDL(w io.Writer, url string) error {
	return wsdlTemplate.Execute(w, map[string]any{"NS": NS, "URL": url, "Base": url, "Ops": Operations})
}

// appender is a response that writes its own XML: the schedule, the one answer that
// is both large and frequent, is written without reflection.
type appender interface {
	canAppend() bool
	appendXML(b *bytes.Buffer)
}

func (r *getScheduleResp) canAppend() bool { return r.Error == nil && r.Schedule != nil }

// appendXML writes what encoding/xml would: Slot_Id and VisitTime hold only GUID and
// time characters; Room is escaped.
func (r *getScheduleResp) appendXML(b *bytes.Buffer) {
	b.Grow(128 + 130*len(r.Schedule.Slots))
	b.WriteString(`<GetScheduleInfoResponse xmlns="` + NS + `"><Session_ID>`)
	escapeTo(b, r.SessionID)
	b.WriteString(`</Session_ID><Schedule>`)
	for _, s := range r.Schedule.Slots {
		b.WriteString(`<Slots><Slot_Id>`)
		b.WriteString(s.SlotID)
		b.WriteString(`</Slot_Id><VisitTime>`)
		b.WriteString(s.VisitTime)
		b.WriteString(`</VisitTime>`)
		if s.Room != "" {
			b.WriteString(`<Room>`)
			escapeTo(b, s.Room)
			b.WriteString(`</Room>`)
		}
		b.WriteString(`</Slots>`)
	}
	b.WriteString(`</Schedule></GetScheduleInfoResponse>`)
}

// escapeTo writes s as XML text, copying it unchanged when nothing needs escaping.
func escapeTo(b *bytes.Buffer, s string) {
	if !strings.ContainsAny(s, "<>&'\"\r\n\t") {
		b.WriteString(s)
		return
	}
	_ = xml.EscapeText(b, []byte(s))
}
