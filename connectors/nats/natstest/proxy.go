package natstest

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a NATS server and can hold every byte back
// (Stall), so tests see a server that accepts a connection and then hangs.
type Proxy struct {
	l        net.Listener
	upstream string
	mu       sync.Mutex
	gate     chan struct{} // closed while traffic flows
	conns    []net.Conn
}

// NewProxy listens on a free port and forwards to the server at serverURL.
func NewProxy(t testing.TB, serverURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, upstream: u.Host, gate: make(chan struct{})}
	close(p.gate)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the address clients connect to.
func (p *Proxy) URL() string { return "nats://" + p.l.Addr().String() }

// Stall holds all traffic until the returned release is called.
func (p *Proxy) Stall() (release func()) {
	p.mu.Lock()
	g := make(chan struct{})
	p.gate = g
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// Close stops listening and cuts every connection.
func (p *Proxy) Close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, waiting at the gate before every write.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			g := p.gate
			p.mu.Unlock()
			<-g
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
