package login

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// setCookie sets one of the gate's cookies: HttpOnly always, Secure when
// the site is served over HTTPS, SameSite=Lax so the cookie comes along
// when the visitor follows a link to the site.
func setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// stripCookies removes the named cookies from the request, keeping every
// other cookie for the upstream.
func stripCookies(h http.Header, names ...string) {
	stripCookiesFunc(h, func(name string) bool {
		for _, n := range names {
			if name == n {
				return true
			}
		}
		return false
	})
}

// stripGateCookies removes the gate's own cookies (the session, the login
// in progress and the pre-login one) from the request. It is on the path
// of every authenticated request, so it does not build their names.
func (g *Gate) stripGateCookies(hdr http.Header) {
	base := g.cfg.CookieName
	stripCookiesFunc(hdr, func(name string) bool {
		rest, ok := strings.CutPrefix(strings.TrimPrefix(name, "__Host-"), base)
		return ok && (rest == "" || rest == "_login" || rest == "_pre")
	})
}

// stripCookiesFunc removes the cookies whose name drop reports. A Cookie
// header holding none of them is left exactly as it is, which costs no
// allocation; one that holds some is rebuilt from the others, trimmed and
// joined with "; ", and goes when nothing is left of it. Names are read as
// net/http reads them (trimmed of ASCII spaces), so that a cookie the gate
// would accept is also one it removes.
func stripCookiesFunc(h http.Header, drop func(name string) bool) {
	values := h["Cookie"]
	if len(values) == 0 {
		return
	}
	kept := 0
	for _, v := range values {
		if !cookieLineHas(v, drop) {
			values[kept] = v
			kept++
			continue
		}
		var b strings.Builder
		b.Grow(len(v))
		for line := v; line != ""; {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = textproto.TrimString(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if drop(textproto.TrimString(name)) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
		if b.Len() > 0 {
			values[kept] = b.String()
			kept++
		}
	}
	if kept == 0 {
		delete(h, "Cookie")
		return
	}
	clear(values[kept:])
	h["Cookie"] = values[:kept]
}

// cookieLineHas reports whether one Cookie header value holds a cookie
// whose name drop reports.
func cookieLineHas(line string, drop func(name string) bool) bool {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		name, _, _ := strings.Cut(part, "=")
		if name = textproto.TrimString(name); name != "" && drop(name) {
			return true
		}
	}
	return false
}

// returnPath is where to send the visitor after login: the path and query
// of the request that met the gate (as the client sent it, before any
// rewrite), on the same site.
func (g *Gate) returnPath(r *http.Request) string {
	return safeReturn(g.env.OriginalURL(r).RequestURI())
}

// maxReturnLen bounds the return path: it is shown in the XMPP message and
// kept for the length of a login.
const maxReturnLen = 1024

// safeReturn accepts only a path on this site: it must parse as a URL
// reference with no scheme, host or user, start with exactly one slash
// (browsers read "//" and "/\" as another host), and contain no control
// characters. It is rebuilt from its parsed path and query, so what is
// kept is a clean, escaped URI. Anything else becomes "/".
func safeReturn(p string) string {
	if p == "" || p[0] != '/' || len(p) > maxReturnLen {
		return "/"
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	out := u.EscapedPath()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return "/"
	}
	// Dot segments (also as %2e) are resolved by the browser, which would
	// turn "/.//evil.example" into "//evil.example", a path that an
	// application echoing it into a Location header makes another host.
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "/"
		}
	}
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}
