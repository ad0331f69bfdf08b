package caddymodule

import (
	"net/http"
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
// of the request that met the gate, on the same site.
func returnPath(r *http.Request) string {
	return safeReturn(r.URL.RequestURI())
}

// safeReturn accepts only a local path: one leading slash, not followed by
// another slash or a backslash (which browsers read as "//", another host),
// and no control characters. Anything else becomes "/".
func safeReturn(p string) string {
	if p == "" || p[0] != '/' || len(p) > 4096 {
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
	return p
}
