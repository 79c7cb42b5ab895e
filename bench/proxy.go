package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// proxy is a TCP relay in front of the PostgreSQL server that counts the bytes the
// server sends to clients: the most honest "bytes pulled per poll", whatever the
// statements are (pg_stat_statements is not loaded on most servers).
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Int64 // server → client
	wg     sync.WaitGroup
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	return p, nil
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

func (p *proxy) relay(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(s, c) // client → server: not counted
		s.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	n, _ := io.Copy(countingWriter{c, &p.down}, s)
	_ = n
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// take returns the bytes counted since the last call.
func (p *proxy) take() int64 { return p.down.Swap(0) }

func (p *proxy) close() { p.ln.Close() }

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
