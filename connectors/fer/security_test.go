package fer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const session = "<er:Session_ID>5f0e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6</er:Session_ID>"

// TestHostileBodies: entity declarations (XXE, billion laughs), oversized and
// unparseable bodies are refused with a schema-valid Error, never expanded.
func TestHostileBodies(t *testing.T) {
	h := newTestHost(t)
	h.put(clinic()...)
	s := startServer(t, h, map[string]string{"max_body_kb": "8"})
	xxe := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:er="` + NS + `"><soapenv:Body>` +
		`<er:GetServicePostSpecsInfoRequest>` + session + `<er:MO_Id>&xxe;</er:MO_Id></er:GetServicePostSpecsInfoRequest></soapenv:Body></soapenv:Envelope>`
	lol := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:er="` + NS + `"><soapenv:Body>` +
		`<er:GetScheduleInfoRequest>` + session + `<er:MO_OID>&lol4;</er:MO_OID></er:GetScheduleInfoRequest></soapenv:Body></soapenv:Envelope>`
	big := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:er="` + NS + `"><soapenv:Body>` +
		`<er:GetMOInfoExtendedRequest>` + session + `<!--` + strings.Repeat("x", 16<<10) + `--></er:GetMOInfoExtendedRequest></soapenv:Body></soapenv:Envelope>`
	cases := []struct{ name, op, body, want string }{
		{"XXE", OpGetServicePostSpecs, xxe, "<Error_Code>INVALID_REQUEST</Error_Code>"},
		{"billion laughs", OpGetScheduleInfo, lol, "<Error_Code>INVALID_REQUEST</Error_Code>"},
		{"oversized", OpGetMOInfoExtended, big, "больше допустимых 8 КиБ"},
		{"DOCTYPE without SOAPAction", "", xxe, "<faultcode>soap:Client</faultcode>"},
	}
	var answers []string
	for _, c := range cases {
		code, got := s.post(t, c.op, c.body)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: answer lacks %q:\n%s", c.name, c.want, got)
		}
		if strings.Contains(got, "root:") || strings.Contains(got, "lollol") {
			t.Errorf("%s: an entity was expanded:\n%s", c.name, got)
		}
		if c.op == "" {
			if code != http.StatusInternalServerError {
				t.Errorf("%s: a Fault is HTTP 500 in SOAP 1.1, got %d", c.name, code)
			}
			continue
		}
		if code != http.StatusOK {
			t.Errorf("%s: HTTP %d", c.name, code)
		}
		answers = append(answers, bodyOf(t, got))
	}
	// A SOAP 1.2 envelope and a body that is not XML at all get a Fault.
	for _, body := range []string{`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>`, `hello`} {
		code, got := s.post(t, "", body)
		if code != http.StatusInternalServerError || !strings.Contains(got, "<soap:Fault>") || strings.Contains(got, "goroutine") {
			t.Errorf("%q: HTTP %d\n%s", body, code, got)
		}
	}
	validate(t, answers...)
}

// TestAllowListAndBasicAuth: callers outside allow, and callers without the
// credentials, are refused before anything is read.
func TestAllowListAndBasicAuth(t *testing.T) {
	h := newTestHost(t)
	h.put(clinic()...)
	s := startServer(t, h, nil)
	req, _ := http.NewRequest(http.MethodGet, s.url+"?wsdl", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credentials: HTTP %d, want 401", resp.StatusCode)
	}
	req.SetBasicAuth(testUser, "wrong")
	if resp, err = http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong password: HTTP %d, want 401", resp.StatusCode)
		}
	}
	other := startServer(t, h, map[string]string{"allow": "10.0.0.0/8"})
	code, _ := other.call(t, OpGetMOInfoExtended, `<er:GetMOInfoExtendedRequest>`+session+`</er:GetMOInfoExtendedRequest>`)
	if code != http.StatusForbidden {
		t.Errorf("caller outside allow: HTTP %d, want 403", code)
	}
	req, _ = http.NewRequest(http.MethodGet, s.url+"?wsdl", nil)
	req.SetBasicAuth(testUser, testPassword)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `soapAction="CreateAppointment"`) || !strings.Contains(string(b), s.url) {
		t.Errorf("WSDL: HTTP %d\n%s", resp.StatusCode, b)
	}
}

// TestConfigRefusesOpenService: without client_ca, allow and basic auth are required.
func TestConfigRefusesOpenService(t *testing.T) {
	for _, over := range []map[string]string{{"allow": ""}, {"basic_password": ""}, {"client_ca": "ca.pem"}, {"post.1": "врач"}, {"mo_oid.1": "abc"}, {"cancel_reason.OTHER": "x"}} {
		if _, err := New(testEnv(t), testValues(over)); err == nil {
			t.Errorf("%v: accepted", over)
		} else if !strings.Contains(err.Error(), "[connector.fer]") {
			t.Errorf("%v: error does not name the section: %v", over, err)
		}
	}
}

// TestSlowClientTimedOut: a caller that never finishes its headers is disconnected.
func TestSlowClientTimedOut(t *testing.T) {
	h := newTestHost(t)
	s := startServer(t, h, map[string]string{"read_header_timeout": "200ms"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(s.url, s.c.set.path), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /fer/soap HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	for err == nil {
		_, err = conn.Read(buf[n:])
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection without headers open for 10 s")
	}
}

// TestMutualTLS: with client_ca a caller is accepted only with a certificate the CA issued.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	client, clientKey := newCert(t, dir, "client", ca, caKey)
	h := newTestHost(t)
	h.put(clinic()...)
	s := startServer(t, h, map[string]string{
		"tls_cert": filepath.Join(dir, "server.pem"), "tls_key": filepath.Join(dir, "server.key"),
		"client_ca": filepath.Join(dir, "ca.pem"), "allow": "", "basic_user": "", "basic_password": "",
	})
	addr := strings.TrimPrefix(strings.TrimSuffix(s.url, s.c.set.path), "http://")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	get := func(certs []tls.Certificate) (*http.Response, error) {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "localhost"}}}
		return cl.Get("https://" + addr + "/fer/soap?wsdl")
	}
	if resp, err := get(nil); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: HTTP %d, want a refused handshake", resp.StatusCode)
	}
	resp, err := get([]tls.Certificate{{Certificate: [][]byte{client.Raw}, PrivateKey: clientKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with a client certificate: HTTP %d", resp.StatusCode)
	}
	l := s.c.Listening()[0]
	if !l.TLS || !strings.Contains(l.Auth, "client certificate") {
		t.Errorf("listener: %+v", l)
	}
	checks := s.c.Check(context.Background())
	if len(checks) != 2 || checks[0].Err != nil || checks[1].Err != nil || !strings.Contains(checks[1].Name, "valid until") {
		t.Errorf("check: %+v", checks)
	}
}

// newCert writes name.pem and name.key into dir: a CA when parent is nil, else a
// certificate for localhost signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	signer, signKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		signer, signKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestTrustedProxies: behind a reverse proxy (here: the test client on 127.0.0.1) the
// allow-list applies to the caller the proxy names in X-Forwarded-For, read from the
// right; what the client itself wrote there (the left part) is not believed, and a
// peer that is not a trusted proxy cannot name another caller at all.
func TestTrustedProxies(t *testing.T) {
	h := newTestHost(t)
	h.put(clinic()...)
	behind := startServer(t, h, map[string]string{"allow": "10.1.2.3", "trusted_proxies": "127.0.0.1, ::1"})
	direct := startServer(t, h, map[string]string{"allow": "10.1.2.3"})
	get := func(s *server, xff ...string) int {
		req, _ := http.NewRequest(http.MethodGet, s.url+"?wsdl", nil)
		req.SetBasicAuth(testUser, testPassword)
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name string
		s    *server
		xff  []string
		want int
	}{
		{"the proxy itself, not in allow", behind, nil, http.StatusForbidden},
		{"a caller in allow behind the proxy", behind, []string{"10.1.2.3"}, http.StatusOK},
		{"the client's own claim left of the real caller", behind, []string{"10.1.2.3, 192.0.2.99"}, http.StatusForbidden},
		{"the real caller right of a client's claim", behind, []string{"192.0.2.99, 10.1.2.3"}, http.StatusOK},
		{"two proxies, the caller before them", behind, []string{"10.1.2.3", "127.0.0.1"}, http.StatusOK},
		{"an unreadable hop", behind, []string{"10.1.2.3, not-an-ip"}, http.StatusForbidden},
		{"a peer that is not a trusted proxy", direct, []string{"10.1.2.3"}, http.StatusForbidden},
	} {
		if got := get(c.s, c.xff...); got != c.want {
			t.Errorf("%s (X-Forwarded-For %q): HTTP %d, want %d", c.name, c.xff, got, c.want)
		}
	}
	if _, err := New(testEnv(t), testValues(map[string]string{"trusted_proxies": "nginx"})); err == nil || !strings.Contains(err.Error(), "trusted_proxies") {
		t.Errorf("trusted_proxies = nginx: %v, want an error naming the key", err)
	}
}
