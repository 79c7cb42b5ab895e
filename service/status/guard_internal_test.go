package status

import (
	"os"
	"strings"
	"testing"

	"medsync/service/config"
)

func TestHostAllowed(t *testing.T) {
	cfg := &config.Config{Service: config.Service{StatusHosts: []string{"Medsync.Clinic.local"}}}
	names := allowedHosts(cfg)
	self, _ := os.Hostname()
	for host, want := range map[string]bool{
		"127.0.0.1:8470":            true,
		"192.168.1.20":              true,
		"[fe80::1]:8470":            true,
		"localhost":                 true,
		"app.localhost:8470":        true,
		"medsync.clinic.local:8470": true,
		"MEDSYNC.CLINIC.LOCAL.":     true,
		strings.ToUpper(self):       self != "",
		"rebind.attacker.example":   false,
		"clinic.local":              false,
	} {
		if got := hostAllowed(host, names); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}
