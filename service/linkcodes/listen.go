package linkcodes

import (
	"fmt"
	"net"
	"strings"
)

// CheckListen decides whether the status server (which carries the registrar page) may
// listen on addr: loopback addresses always; any other address (":8470", "0.0.0.0",
// a LAN address, a host name) only with TLS configured ([registrar] tls_cert and
// tls_key) or the explicit opt-out [registrar] allow_plain_http_on_lan = true.
func CheckListen(addr string, tlsConfigured, insecureOptOut bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("[service] status_listen %q is not host:port; write e.g. 127.0.0.1:8470", addr)
	}
	if isLoopback(host) || tlsConfigured || insecureOptOut {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every address"
	}
	return fmt.Errorf("[service] status_listen %q listens on %s, beyond this computer, and the registrar page sends passwords and link codes: "+
		"set [registrar] tls_cert and tls_key (PEM files), or write [registrar] allow_plain_http_on_lan = true to accept plain HTTP on the clinic LAN, "+
		"or listen on 127.0.0.1", addr, shown)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
