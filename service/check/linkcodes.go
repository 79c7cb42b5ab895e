package check

import (
	"context"
	"errors"
	"fmt"

	"medsync/service/config"
	"medsync/service/linkcodes"
)

// linkCodes checks what `run` needs for [linkcodes] and [registrar], with the same
// rules `run` applies: the registrar page's listener, a connector that takes the codes,
// and every delivery channel set up (reached, TLS, credentials; nothing is sent).
func (c *checker) linkCodes(ctx context.Context, cfg *config.Config) {
	if !cfg.LinkCodes.Enabled {
		return
	}
	if cfg.Registrar.Enabled {
		if err := linkcodes.CheckListen(cfg.Service.StatusListen, cfg.Registrar.TLS(), cfg.Registrar.AllowPlainHTTPOnLAN); err != nil {
			c.fail("registrar page", fmt.Errorf("%s: %w", cfg.File, err), "medsync run refuses to start like this: fix [service] status_listen or [registrar] as the message says")
		} else {
			scheme := "http"
			if cfg.Registrar.TLS() {
				scheme = "https"
			}
			c.pass("registrar page", scheme+"://"+cfg.Service.StatusListen+linkcodes.Prefix)
		}
	}
	if c.registrars == 0 {
		c.fail("link codes", errors.New("[linkcodes] is enabled but no enabled connector takes link codes: codes would reach no patient app"),
			fmt.Sprintf("enable [connector.ondoc] in %s (patients link in ONDOC with the code), or set [linkcodes] enabled = false", cfg.File))
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	for _, k := range linkcodes.CheckDelivery(cctx, cfg.LinkCodes) {
		name := "link codes: " + k.Name
		if k.Err != nil {
			c.fail(name, k.Err, k.Hint)
		} else {
			c.pass(name, "reachable, credentials accepted")
		}
	}
}
