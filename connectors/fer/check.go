package fer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"medsync/connectors"
)

// Check reports whether the listen address can be opened (or is already served by a
// running medsync), and whether the server certificate is in date.
func (c *Conn) Check(ctx context.Context) []connectors.Check {
	out := []connectors.Check{c.checkListen(ctx)}
	if c.set.tls != nil {
		out = append(out, c.checkCert())
	}
	return out
}

func (c *Conn) checkListen(ctx context.Context) connectors.Check {
	k := connectors.Check{
		Name: fmt.Sprintf("listen address %s can be opened or is served by the running medsync", c.set.listen),
		Hint: "set listen in the [connector] section to a free port, or stop the program that holds it",
	}
	ln, err := net.Listen("tcp", c.set.listen)
	if err == nil {
		ln.Close()
		return k
	}
	if c.runningMedsync(ctx) {
		return k
	}
	k.Err = fmt.Errorf("cannot listen: %w", err)
	return k
}

// runningMedsync reports whether the address answers with this service's WSDL.
func (c *Conn) runningMedsync(ctx context.Context) bool {
	host, port, _ := net.SplitHostPort(c.set.listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	tr := &http.Transport{}
	if c.set.tls != nil {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // only asks whether it is us
		if c.set.mutual {
			tr.TLSClientConfig.Certificates = c.set.tls.Certificates
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+c.set.path+"?wsdl", nil)
	if err != nil {
		return false
	}
	if c.set.user != "" {
		req.SetBasicAuth(c.set.user, c.set.password)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode == http.StatusOK && strings.Contains(string(b), "ElectronicRegistry")
}

func (c *Conn) checkCert() connectors.Check {
	k := connectors.Check{Hint: "renew the server certificate (tls_cert, tls_key) and give the regional operator the new one if it asks for it"}
	leaf, err := x509.ParseCertificate(c.set.tls.Certificates[0].Certificate[0])
	if err != nil {
		k.Name, k.Err = "ФЭР server certificate", err
		return k
	}
	k.Name = fmt.Sprintf("ФЭР server certificate %q valid until %s", leaf.Subject.CommonName, leaf.NotAfter.Format("2006-01-02"))
	switch now := time.Now(); {
	case now.After(leaf.NotAfter):
		k.Err = errors.New("the certificate has expired")
	case now.Before(leaf.NotBefore):
		k.Err = errors.New("the certificate is not valid yet")
	case leaf.NotAfter.Sub(now) < 30*24*time.Hour:
		k.Err = fmt.Errorf("the certificate expires in %d days", int(leaf.NotAfter.Sub(now).Hours()/24))
	}
	return k
}

var _ connectors.StateChecker = (*Conn)(nil)

// CheckState reports, from the synced state, the branches and doctors that are not
// offered to ЕПГУ and why (no OID, no valid СНИЛС, an unmapped specialty or position).
func (c *Conn) CheckState(ctx context.Context, host connectors.Host) []connectors.Check {
	ix := newIndex(c.set.codes)
	if err := ix.load(ctx, host); err != nil {
		return []connectors.Check{{Name: "ФЭР: synced state", Err: err, Hint: "run medsync once, or start the service, and check again"}}
	}
	var out []connectors.Check
	ix.read(func(v *refView) {
		if len(ix.branches) == 0 {
			out = append(out, connectors.Check{Name: "ФЭР: nothing synced yet; run medsync once to see which doctors ЕПГУ will be offered"})
			return
		}
		offers := connectors.Check{Name: fmt.Sprintf("ФЭР offers %d departments, %d doctors, %d slots", len(v.mos), len(v.docs), len(ix.slots))}
		if len(v.docs) == 0 {
			offers.Err = errors.New("no doctor can be offered to ЕПГУ")
			offers.Hint = "every branch or doctor is left out (below): give the branches their ФРМО OID (mo_oid.<branch>) and the doctors a valid СНИЛС in the MIS, map the specialties and positions (specialty.*, post.*), then run medsync once"
		}
		out = append(out, offers)
		// A record left out is a remark, not a failure: the others are offered.
		for _, p := range v.problems {
			out = append(out, connectors.Check{Name: "ФЭР: left out", Err: errors.New(p), Warn: true,
				Hint: "fix the record in the MIS (СНИЛС, MO_OID) or add the code to the [connector] section, then run medsync once"})
		}
	})
	return out
}
