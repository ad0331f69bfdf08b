package caddymodule

import (
	"net/http"
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
		c.Expires = time.Now().Add(maxAge)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// stripCookies removes the named cookies from the request, keeping every
// other cookie for the upstream.
func stripCookies(h http.Header, names ...string) {
	values := h.Values("Cookie")
	if len(values) == 0 {
		return
	}
	kept := make([]string, 0, len(values))
	for _, v := range values {
		parts := strings.Split(v, ";")
		out := parts[:0]
		for _, p := range parts {
			name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
			drop := false
			for _, n := range names {
				if name == n {
					drop = true
					break
				}
			}
			if !drop && strings.TrimSpace(p) != "" {
				out = append(out, strings.TrimSpace(p))
			}
		}
		if len(out) > 0 {
			kept = append(kept, strings.Join(out, "; "))
		}
	}
	h.Del("Cookie")
	for _, v := range kept {
		h.Add("Cookie", v)
	}
}

// returnPath is where to send the visitor after login: the path and query
// of the request that met the gate (as the client sent it, before any
// rewrite), on the same site.
func returnPath(r *http.Request) string {
	return safeReturn(originalRequest(r).URL.RequestURI())
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
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}
