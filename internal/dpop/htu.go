package dpop

import (
	"net/url"
	"strings"
)

// HTU returns rawURL as a proof's htu is compared: an absolute http or
// https URL without query and fragment, normalised as RFC 3986 §6.2.2 and
// §6.2.3 say (scheme and host in lower case, the default port dropped, an
// empty path as "/", percent-encodings of unreserved characters decoded and
// the others in upper case, dot segments removed). Userinfo is refused.
func HTU(rawURL string) (string, error) {
	if len(rawURL) > maxHTU {
		return "", invalid("htu too long")
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return "", invalid("htu is not an absolute http(s) URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", invalid("htu is not an absolute http(s) URL")
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		host = host[:len(host)-len(p)-1]
	}
	host = strings.TrimSuffix(host, ":")
	path, ok := normPath(u.EscapedPath())
	if !ok {
		return "", invalid("htu has a bad path")
	}
	return scheme + "://" + host + path, nil
}

const maxHTU = 2048

// normPath normalises the percent-encoding of an escaped path and removes
// its dot segments; "" becomes "/".
func normPath(p string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", false
		}
		v := unhex(p[i+1])<<4 | unhex(p[i+2])
		if unreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(upper(p[i+1]))
			b.WriteByte(upper(p[i+2]))
		}
		i += 2
	}
	out := removeDots(b.String())
	if out == "" {
		out = "/"
	}
	return out, true
}

// removeDots is RFC 3986 §5.2.4 on an absolute path.
func removeDots(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	var out []string
	segs := strings.Split(in, "/")
	for i, s := range segs {
		switch s {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
