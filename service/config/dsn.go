package config

import (
	"net/url"
	"strings"
)

const mask = "******"

// maskDSN returns dsn with its password replaced by ******, and the password itself
// (raw and, when it differs, percent-decoded) for log redaction. It understands the
// forms each driver accepts:
//
//	sqlserver  sqlserver://user:pass@host?database=x   server=h;user id=u;password=p
//	postgres   postgres://user:pass@host/db            host=h user=u password='p q'
//	mysql      user:pass@tcp(host:3306)/db
//
// and a password=/pwd= parameter in a URL's query.
func maskDSN(driver, dsn string) (string, []string) {
	switch {
	case driver == "sqlite":
		return dsn, nil
	case driver == "firebird" && !strings.Contains(dsn, "://"):
		// user:password@host:3050/path.fdb: masked as the URL it is without its scheme.
		m, s := maskURL("firebird://" + dsn)
		return strings.TrimPrefix(m, "firebird://"), s
	case strings.Contains(dsn, "://"):
		return maskURL(dsn)
	case driver == "mysql":
		return maskMySQL(dsn)
	case driver == "postgres":
		return maskKV(dsn, ' ')
	default: // sqlserver ADO or ODBC form
		if rest, ok := strings.CutPrefix(dsn, "odbc:"); ok {
			m, s := maskKV(rest, ';')
			return "odbc:" + m, s
		}
		return maskKV(dsn, ';')
	}
}

func secretForms(raw string) []string {
	if raw == "" {
		return nil
	}
	out := []string{raw}
	if dec, err := url.QueryUnescape(raw); err == nil && dec != raw {
		out = append(out, dec)
	}
	return out
}

func isPasswordKey(k string) bool {
	switch strings.ToLower(strings.TrimSpace(k)) {
	case "password", "pwd", "pass", "passwd":
		return true
	}
	return false
}

// maskURL masks scheme://user:pass@host… and password=/pwd= query parameters.
func maskURL(dsn string) (string, []string) {
	var secrets []string
	i := strings.Index(dsn, "://") + 3
	query := ""
	head := dsn
	if q := strings.IndexByte(dsn[i:], '?'); q >= 0 {
		head, query = dsn[:i+q], dsn[i+q:]
	}
	if at := strings.LastIndexByte(head, '@'); at > i {
		userinfo := head[i:at]
		if c := strings.IndexByte(userinfo, ':'); c >= 0 {
			secrets = append(secrets, secretForms(userinfo[c+1:])...)
			head = head[:i] + userinfo[:c+1] + mask + head[at:]
		}
	}
	if query != "" {
		parts := strings.Split(query[1:], "&")
		for n, p := range parts {
			if k, v, ok := strings.Cut(p, "="); ok && isPasswordKey(k) && v != "" {
				secrets = append(secrets, secretForms(v)...)
				parts[n] = k + "=" + mask
			}
		}
		query = "?" + strings.Join(parts, "&")
	}
	return head + query, secrets
}

// maskMySQL masks go-sql-driver/mysql's user:pass@proto(addr)/db?params, splitting it
// the way the driver does: the last '/' ends the address, the last '@' before it ends
// the credentials.
func maskMySQL(dsn string) (string, []string) {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return dsn, nil
	}
	at := strings.LastIndexByte(dsn[:slash], '@')
	if at < 0 {
		return dsn, nil
	}
	c := strings.IndexByte(dsn[:at], ':')
	if c < 0 {
		return dsn, nil
	}
	pass := dsn[c+1 : at]
	return dsn[:c+1] + mask + dsn[at:], secretForms(pass)
}

// maskKV masks the password in key=value lists: PostgreSQL's space-separated form with
// 'single quoted' values and backslash escapes, and SQL Server's ;-separated ADO/ODBC
// form with {braced} or "quoted" values.
func maskKV(dsn string, sep byte) (string, []string) {
	var (
		b       strings.Builder
		secrets []string
		i       int
	)
	for i < len(dsn) {
		eq := strings.IndexByte(dsn[i:], '=')
		if eq < 0 {
			b.WriteString(dsn[i:])
			break
		}
		key := dsn[i : i+eq]
		b.WriteString(dsn[i : i+eq+1])
		i += eq + 1
		// leading spaces of the value
		for i < len(dsn) && dsn[i] == ' ' {
			b.WriteByte(' ')
			i++
		}
		start := i
		var val string
		switch {
		case i < len(dsn) && (dsn[i] == '\'' || dsn[i] == '"' || dsn[i] == '{'):
			open := dsn[i]
			closeCh := open
			if open == '{' {
				closeCh = '}'
			}
			var v strings.Builder
			i++
			for i < len(dsn) {
				ch := dsn[i]
				if ch == '\\' && sep == ' ' && i+1 < len(dsn) {
					v.WriteByte(dsn[i+1])
					i += 2
					continue
				}
				if ch == closeCh {
					if i+1 < len(dsn) && dsn[i+1] == closeCh && sep == ';' { // }} or "" escape
						v.WriteByte(ch)
						i += 2
						continue
					}
					i++
					break
				}
				v.WriteByte(ch)
				i++
			}
			val = v.String()
		default:
			var v strings.Builder
			for i < len(dsn) && dsn[i] != sep {
				if dsn[i] == '\\' && sep == ' ' && i+1 < len(dsn) {
					v.WriteByte(dsn[i+1])
					i += 2
					continue
				}
				v.WriteByte(dsn[i])
				i++
			}
			val = strings.TrimRight(v.String(), " ")
		}
		if isPasswordKey(key) && val != "" {
			secrets = append(secrets, val)
			if raw := strings.TrimRight(dsn[start:i], " "); raw != val {
				secrets = append(secrets, raw)
			}
			b.WriteString(mask)
		} else {
			b.WriteString(dsn[start:i])
		}
		// copy separators up to the next key
		for i < len(dsn) && (dsn[i] == sep || dsn[i] == ' ') {
			b.WriteByte(dsn[i])
			i++
		}
	}
	return b.String(), secrets
}
