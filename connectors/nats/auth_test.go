package nats

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"medsync/connectors"
	"medsync/connectors/nats/natstest"
)

// mustPass runs every check and fails the test on any failed line, then delivers.
func mustPass(t *testing.T, c *Connector) {
	t.Helper()
	for _, ch := range c.Check(context.Background()) {
		if ch.Err != nil {
			t.Fatalf("%s: %v", ch.Name, ch.Err)
		}
	}
	for _, err := range c.Deliver(context.Background(), events(time.Now())) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenAuth(t *testing.T) {
	srv := natstest.StartWith(t, "authorization { token: \"s3cret-token\" }\n", natsgo.Token("s3cret-token"))
	mustPass(t, newConn(t, map[string]string{"urls": srv.URL(), "clinic": "c1", "create_stream": "true", "token": "s3cret-token"}))
	bad := newConn(t, map[string]string{"urls": srv.URL(), "clinic": "c1", "create_stream": "true", "token": "wrong"})
	if errs := bad.Deliver(context.Background(), events(time.Now())); !connectors.IsPermanent(errs[0]) {
		t.Fatalf("wrong token: %v, want permanent", errs[0])
	}
}

func TestNKeyAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clinic.nk"), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	opt, err := natsgo.NkeyOptionFromSeed(filepath.Join(dir, "clinic.nk"))
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.StartWith(t, fmt.Sprintf("authorization { users = [ { nkey: %q } ] }\n", pub), opt)
	c, err := New(connectors.Env{Instance: "nats", BaseDir: dir}, values(map[string]string{"urls": srv.URL(), "clinic": "c1", "create_stream": "true", "nkey_seed": "clinic.nk"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustPass(t, c.(*Connector))

	missing, err := New(connectors.Env{Instance: "nats", BaseDir: dir}, values(map[string]string{"urls": srv.URL(), "clinic": "c1", "nkey_seed": "absent.nk"}))
	if err != nil {
		t.Fatal(err)
	}
	defer missing.Close()
	checks := missing.(*Connector).Check(context.Background())
	if checks[0].Err == nil || !strings.Contains(checks[0].Err.Error(), "absent.nk") {
		t.Fatalf("a seed file that is not there: %+v", checks)
	}
}

// pki writes a CA, a server certificate for 127.0.0.1 and a client certificate.
func pki(t *testing.T, dir string) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey := key()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "region test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.pem", "CERTIFICATE", caDER)
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		kder, _ := x509.MarshalECPrivateKey(k)
		write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	leaf("clinic", 3, x509.ExtKeyUsageClientAuth, nil)
}

func TestTLSWithClientCertificate(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir)
	p := func(n string) string { return filepath.ToSlash(filepath.Join(dir, n)) }
	conf := fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }\n", p("server.pem"), p("server-key.pem"), p("ca.pem"))
	srv := natstest.StartWith(t, conf, natsgo.RootCAs(p("ca.pem")), natsgo.ClientCert(p("clinic.pem"), p("clinic-key.pem")))
	url := strings.Replace(srv.URL(), "nats://", "tls://", 1)
	env := connectors.Env{Instance: "nats", BaseDir: dir}
	c, err := New(env, values(map[string]string{"urls": url, "clinic": "c1", "create_stream": "true",
		"tls_ca": "ca.pem", "tls_cert": "clinic.pem", "tls_key": "clinic-key.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustPass(t, c.(*Connector))

	noCert, err := New(env, values(map[string]string{"urls": url, "clinic": "c1", "tls_ca": "ca.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	if checks := noCert.(*Connector).Check(context.Background()); checks[0].Err == nil {
		t.Fatalf("a server that verifies clients accepted one without a certificate: %+v", checks)
	}
}

// TestClusterURLs: the first server of the list is down; the connector uses the next.
func TestClusterURLs(t *testing.T) {
	down := natstest.Start(t)
	downURL := down.URL()
	down.Kill()
	f := newFixture(t)
	c := newConn(t, f.opts(map[string]string{"urls": downURL + ", " + f.url}))
	for _, err := range c.Deliver(context.Background(), events(time.Now())) {
		if err != nil {
			t.Fatalf("with one server of two down: %v", err)
		}
	}
}

// TestBackPressureIsTransient: a stream that is full, and a server that stops
// answering while publishes pile up, give transient errors, never dead letters.
func TestBackPressureIsTransient(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: f.stream, Subjects: []string{f.prefix + ".>"}, Duplicates: 24 * time.Hour,
		MaxMsgs: 3, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	c := newConn(t, f.opts(map[string]string{"create_stream": "false"}))
	batch := events(time.Now())
	errs := c.Deliver(ctx, batch)
	for i, err := range errs {
		if (i < 3) != (err == nil) || connectors.IsPermanent(err) {
			t.Fatalf("full stream: event %d: %v (want the first 3 delivered, the rest transient)", i, err)
		}
	}

	g := newFixture(t)
	proxy := natstest.NewProxy(t, g.url)
	slow := newConn(t, g.opts(map[string]string{"urls": proxy.URL(), "max_pending": "2", "timeout": "1s"}))
	if _, _, err := slow.ready(ctx); err != nil {
		t.Fatal(err)
	}
	release := proxy.Stall()
	defer release()
	start := time.Now()
	for i, err := range slow.Deliver(ctx, batch) {
		if err == nil || connectors.IsPermanent(err) {
			t.Fatalf("stalled server, event %d: %v, want transient", i, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Deliver to a stalled server took %s", d)
	}
}

// TestCredsFile: a server in operator (JWT) mode, the clinic logging in with a .creds
// file of a user of a JetStream-enabled account; a user whose permissions stop at
// another clinic's subjects may not publish.
func TestCredsFile(t *testing.T) {
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	op, _ := nkeys.CreateOperator()
	opPub := must(op.PublicKey())
	opJWT := must(jwt.NewOperatorClaims(opPub).Encode(op))
	acc, _ := nkeys.CreateAccount()
	accPub := must(acc.PublicKey())
	ac := jwt.NewAccountClaims(accPub)
	ac.Limits.JetStreamLimits.DiskStorage = -1
	ac.Limits.JetStreamLimits.MemoryStorage = -1
	accJWT := must(ac.Encode(op))
	sys, _ := nkeys.CreateAccount()
	sysPub := must(sys.PublicKey())
	sysJWT := must(jwt.NewAccountClaims(sysPub).Encode(op))
	dir := t.TempDir()
	creds := func(name string, allow ...string) (string, natsgo.Option) {
		u, _ := nkeys.CreateUser()
		uc := jwt.NewUserClaims(must(u.PublicKey()))
		uc.IssuerAccount = accPub
		if len(allow) > 0 {
			uc.Pub.Allow.Add(allow...)
		}
		seed, _ := u.Seed()
		b, err := jwt.FormatUserConfig(must(uc.Encode(acc)), seed)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".creds")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return name + ".creds", natsgo.UserCredentials(p)
	}
	admin, adminOpt := creds("admin")
	conf := fmt.Sprintf("operator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: { %s: %q, %s: %q }\n",
		opJWT, sysPub, accPub, accJWT, sysPub, sysJWT)
	srv := natstest.StartWith(t, conf, adminOpt)
	env := connectors.Env{Instance: "nats", BaseDir: dir}
	c, err := New(env, values(map[string]string{"urls": srv.URL(), "clinic": "c1", "create_stream": "true", "creds": admin}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustPass(t, c.(*Connector))

	other, _ := creds("c2", "$JS.API.>", "medsync.c1.>")
	c2, err := New(env, values(map[string]string{"urls": srv.URL(), "clinic": "c2", "create_stream": "true", "creds": other, "timeout": "2s"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	checks := c2.(*Connector).Check(context.Background())
	if last := checks[len(checks)-1]; last.Err == nil || !strings.Contains(last.Name, "may publish to medsync.c2.>") {
		t.Fatalf("a user allowed only medsync.c1.>: %+v", checks)
	}
}
