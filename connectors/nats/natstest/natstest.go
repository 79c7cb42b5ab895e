// Package natstest gives tests of the nats connector and its hub a real JetStream
// server: the shared one on 127.0.0.1:4222 with a stream and subject prefix of their
// own, a private nats-server child process they may stop and restart, and a TCP proxy
// that can stall the connection. Tests skip with a how-to when no server is there, and
// fail when CI=true.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultURL is the shared test server; MEDSYNC_TEST_NATS_URL overrides it.
const DefaultURL = "nats://127.0.0.1:4222"

const howTo = "start a JetStream server: apt-get install nats-server && " +
	"start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server"

// URL returns the shared server's URL after checking that it runs JetStream.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("MEDSYNC_TEST_NATS_URL")
	if u == "" {
		u = DefaultURL
	}
	nc, err := natsgo.Connect(u, natsgo.Timeout(3*time.Second))
	if err == nil {
		defer nc.Close()
		var js jetstream.JetStream
		if js, err = jetstream.New(nc); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
		}
	}
	if err != nil {
		unreachable(t, fmt.Sprintf("NATS JetStream at %s: %v", u, err))
	}
	return u
}

func unreachable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: NATS integration tests are mandatory; %s)", msg, howTo)
	}
	t.Skipf("%s; %s", msg, howTo)
}

// Names returns a stream name and a subject prefix no other test uses, and deletes
// the stream on the server at url when the test ends.
func Names(t testing.TB, url string) (stream, prefix string) {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	stream, prefix = "T_"+strings.ToUpper(id), "t"+id
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url, natsgo.Timeout(3*time.Second))
		if err != nil {
			return // a private server already stopped
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
	})
	return stream, prefix
}

// JetStream connects to url for the test's own reads and admin.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(url, natsgo.Timeout(3*time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Messages reads every message of the stream, in sequence order.
func Messages(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream %s message %d: %v", stream, seq, err)
		}
		out = append(out, m)
	}
	return out
}

// Server is a private nats-server child process with its own store directory.
type Server struct {
	t    testing.TB
	port int
	dir  string
	conf string // extra server config (authorization, …), or empty
	// probe are the options the readiness check connects with (a config with users
	// refuses anonymous clients).
	probe []natsgo.Option
	mu    sync.Mutex
	cmd   *exec.Cmd
}

// Binary is the nats-server executable (MEDSYNC_NATS_SERVER overrides the lookup).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MEDSYNC_NATS_SERVER"); p != "" {
		return p
	}
	for _, p := range []string{"nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if q, err := exec.LookPath(p); err == nil {
			return q
		}
	}
	unreachable(t, "nats-server binary not found")
	return ""
}

// Start runs a private JetStream server on a free port; it is killed when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, "") }

// StartWith is Start with extra nats-server configuration, such as an authorization
// block with users and their permissions or a tls block; probe is how the readiness
// check connects (credentials, TLS).
func StartWith(t testing.TB, conf string, probe ...natsgo.Option) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, port: port, dir: t.TempDir(), conf: conf, probe: probe}
	s.Begin()
	t.Cleanup(func() { s.Kill() })
	return s
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Begin starts the process and waits until it accepts connections.
func (s *Server) Begin() {
	s.t.Helper()
	bin := Binary(s.t)
	args := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-js", "-sd", filepath.Join(s.dir, "js"),
		"-l", filepath.Join(s.dir, "server.log")}
	if s.conf != "" {
		p := filepath.Join(s.dir, "server.conf")
		if err := os.WriteFile(p, []byte(s.conf), 0o600); err != nil {
			s.t.Fatal(err)
		}
		args = append(args, "-c", p)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", bin, err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := natsgo.Connect(s.URL(), append([]natsgo.Option{natsgo.Timeout(time.Second)}, s.probe...)...)
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.t.Fatalf("private nats-server on %s did not come up: %v\n%s", s.URL(), err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down cleanly (SIGTERM on Unix, kill elsewhere) and waits.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = terminate(cmd.Process)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Kill ends the server at once.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Restart stops the server cleanly and starts it again on the same port and store.
func (s *Server) Restart() {
	s.Stop()
	s.Begin()
}
