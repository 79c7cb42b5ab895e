package config

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"medsync/connectors"
)

// Show renders the effective configuration as ini text, defaults filled in, with the
// MIS password and every secret connector option masked as ******. It is what
// `medsync config show` prints.
func (c *Config) Show() string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s = %v\n", k, v) }
	fmt.Fprintf(&b, "; effective configuration of %s (defaults filled in, secrets masked)\n\n", c.File)

	s := c.Service
	b.WriteString("[service]\n")
	kv("name", s.Name)
	kv("display_name", s.DisplayName)
	if s.Schedule != "" {
		kv("schedule", s.Schedule)
	} else {
		kv("interval", s.Interval)
	}
	kv("timezone", s.Timezone)
	kv("state_dir", s.StateDir)
	kv("log_dir", s.LogDir)
	kv("backup_dir", s.BackupDir)
	kv("backup_every", fmtDuration(s.BackupEvery))
	kv("backup_keep", s.BackupKeep)
	kv("log_level", strings.ToLower(s.LogLevel.String()))
	kv("log_max_size_mb", s.LogMaxSizeMB)
	kv("log_max_files", s.LogMaxFiles)
	kv("status_listen", s.StatusListen)

	m := c.MIS
	dsn, _ := maskDSN(m.Driver, m.DSN)
	b.WriteString("\n[mis]\n")
	kv("driver", m.Driver)
	kv("dsn", dsn)
	kv("profile", m.Profile)
	kv("days_back", m.DaysBack)
	kv("days_ahead", m.DaysAhead)
	kv("query_timeout", fmtDuration(m.QueryTimeout))
	kv("charset", m.Charset)
	kv("full_read_every", fmtDuration(m.FullReadEvery))
	kv("max_skipped_share", strconv.FormatFloat(m.MaxSkippedShare, 'f', -1, 64))

	b.WriteString("\n[guard]\n")
	kv("max_delete_share", strconv.FormatFloat(c.Guard.MaxDeleteShare, 'f', -1, 64))
	kv("min_delete_count", c.Guard.MinDeleteCount)

	b.WriteString("\n[dispatch]\n")
	kv("backoff_initial", fmtDuration(c.Dispatch.BackoffInitial))
	kv("backoff_max", fmtDuration(c.Dispatch.BackoffMax))
	kv("max_attempts", c.Dispatch.MaxAttempts)

	lc := c.LinkCodes
	secret := func(v string) string {
		if v != "" {
			return mask
		}
		return ""
	}
	b.WriteString("\n[linkcodes]\n")
	kv("enabled", lc.Enabled)
	kv("lifetime", fmtDuration(lc.Lifetime))
	kv("priority", strings.Join(lc.Priority, ","))
	kv("clinic", lc.Clinic)
	kv("requests", lc.Requests)
	kv("limit_per_patient_day", lc.LimitPatientDay)
	kv("limit_per_user_day", lc.LimitUserDay)
	smsURL, _ := urlPassword(lc.SMSURL)
	kv("sms_url", smsURL)
	kv("sms_login", lc.SMSLogin)
	kv("sms_password", secret(lc.SMSPassword))
	kv("sms_sender", lc.SMSSender)
	kv("sms_timeout", fmtDuration(lc.SMSTimeout))
	kv("smtp_host", lc.SMTPHost)
	kv("smtp_port", lc.SMTPPort)
	kv("smtp_security", lc.SMTPSecurity)
	kv("smtp_user", lc.SMTPUser)
	kv("smtp_password", secret(lc.SMTPPassword))
	kv("smtp_from", lc.SMTPFrom)
	kv("smtp_ca_file", lc.SMTPCAFile)
	kv("smtp_timeout", fmtDuration(lc.SMTPTimeout))
	kv("message_sms", strings.ReplaceAll(lc.MessageSMS, "\n", `\n`))
	kv("message_email", strings.ReplaceAll(lc.MessageEmail, "\n", `\n`))
	kv("email_subject", lc.EmailSubject)

	r := c.Registrar
	b.WriteString("\n[registrar]\n")
	kv("enabled", r.Enabled)
	users := make([]string, 0, len(r.Users))
	for u := range r.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		kv("user."+u, mask)
	}
	kv("tls_cert", r.TLSCert)
	kv("tls_key", r.TLSKey)
	kv("allow_plain_http_on_lan", r.AllowPlainHTTPOnLAN)
	kv("session_lifetime", fmtDuration(r.SessionLifetime))
	kv("login_max_failures", r.LoginMaxFailures)
	kv("lockout_initial", fmtDuration(r.LockoutInitial))
	kv("lockout_max", fmtDuration(r.LockoutMax))

	for _, cc := range c.Connectors {
		fmt.Fprintf(&b, "\n[connector.%s]\n", cc.Name)
		kv("type", cc.Type)
		kv("enabled", cc.Enabled)
		kv("entities", strings.Join(cc.Entities, ", "))
		kv("batch_size", cc.BatchSize)
		for _, o := range cc.Spec.Options {
			keys := []string{o.Name}
			if o.Pattern {
				keys = patternKeys(cc.Values, o.Name)
			}
			for _, k := range keys {
				v := cc.Values.String(k)
				if o.Secret && v != "" {
					v = mask
				}
				v, _ = urlPassword(v)
				kv(k, v)
			}
		}
	}
	return b.String()
}

// patternKeys lists the keys present in v that match the glob pattern.
func patternKeys(v *connectors.Values, pattern string) []string {
	var out []string
	for _, k := range v.Keys("") {
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(k)); ok {
			out = append(out, k)
		}
	}
	return out
}

// MinSecretLen is the shortest secret a config may hold (logging.MinSecretLen, the
// shortest value the log's redaction masks, is the same number): shorter ones are
// refused at load, because masking them would garble the log.
const MinSecretLen = 4

// secretSetting is one secret value and where it is set.
type secretSetting struct {
	section, key, value string
}

// secretSettings lists every secret of cfg: the MIS password (raw and
// percent-decoded), the SMS and SMTP passwords, the registrar password hashes, the
// connector options marked Secret, and the password inside any URL setting
// (scheme://user:password@host) of [linkcodes] or a connector.
func secretSettings(cfg *Config) []secretSetting {
	var out []secretSetting
	add := func(section, key string, values ...string) {
		for _, v := range values {
			if v != "" {
				out = append(out, secretSetting{section, key, v})
			}
		}
	}
	_, pw := maskDSN(cfg.MIS.Driver, cfg.MIS.DSN)
	add("mis", "dsn", pw...)
	add("linkcodes", "sms_password", cfg.LinkCodes.SMSPassword)
	add("linkcodes", "smtp_password", cfg.LinkCodes.SMTPPassword)
	_, pw = urlPassword(cfg.LinkCodes.SMSURL)
	add("linkcodes", "sms_url", pw...)
	for u, h := range cfg.Registrar.Users {
		add("registrar", "user."+u, h)
	}
	for _, cc := range cfg.Connectors {
		if cc.Spec == nil {
			continue
		}
		sec := "connector." + cc.Name
		for _, o := range cc.Spec.Options {
			keys := []string{o.Name}
			if o.Pattern {
				keys = patternKeys(cc.Values, o.Name)
			}
			for _, k := range keys {
				v := cc.Values.String(k)
				if o.Secret {
					add(sec, k, v)
					continue
				}
				_, pw := urlPassword(v)
				add(sec, k, pw...)
			}
		}
	}
	return out
}

// urlPassword returns v with the password of a scheme://user:password@host URL (or
// of a password= query parameter) masked, and that password; v unchanged when it is
// no such URL.
func urlPassword(v string) (string, []string) {
	if !strings.Contains(v, "://") {
		return v, nil
	}
	return maskURL(v)
}

// Secrets returns every secret value in cfg (see secretSettings), deduplicated and
// longest first, so that a log redactor replacing them in order never leaves part of
// a longer secret behind.
func Secrets(cfg *Config) []string {
	set := map[string]bool{}
	for _, s := range secretSettings(cfg) {
		set[s.value] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// checkSecrets refuses secrets shorter than MinSecretLen, naming where they are set.
func (cfg *Config) checkSecrets(l *loader) {
	seen := map[string]bool{}
	for _, s := range secretSettings(cfg) {
		if n := len([]rune(s.value)); n < MinSecretLen && !seen[s.section+"\x00"+s.key] {
			seen[s.section+"\x00"+s.key] = true
			l.errf(s.section, s.key, "the secret (password or token) is %d characters long; at least %d are required: so short a secret is guessable, and masking it would garble the log", n, MinSecretLen)
		}
	}
}

// fmtDuration writes d as it would be typed: 10m, 24h, 1h30m, 1.5s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
