package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

// The login form is protected against cross-site posts (login CSRF: an
// attacker's page making the visitor's browser start a login that the
// attacker then approves for their own account): browsers send Origin,
// which must be this site; and the form carries a token tied to a random
// pre-login cookie, so a post without the cookie this site set, or with a
// token made for another cookie, is refused. The login it starts is bound
// to that pre-login cookie too: only the browser that started a login can
// wait for it and cash it in. A sibling domain could plant both cookies
// (of a login the attacker started and approved), so on HTTPS their names
// carry the __Host- prefix, which only this host can set (hostOnlyPrefix).

// preCookieLife is how long a login form stays usable.
const preCookieLife = 12 * time.Hour

// csrfKey is the gate's key for form tokens: random, kept in memory for
// the life of the gate (a restart makes open forms ask to be sent again).
type csrfKey [32]byte

func newCSRFKey() csrfKey {
	var k csrfKey
	_, _ = rand.Read(k[:])
	return k
}

// token returns the form token for a pre-login cookie on a site.
func (k *csrfKey) token(pre, site string) string {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(site))
	m.Write([]byte{0})
	m.Write([]byte(pre))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// valid reports whether the posted token matches the request's pre-login
// cookie, in constant time.
func (k *csrfKey) valid(r *http.Request, cookieName, posted string) bool {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) < 16 || posted == "" {
		return false
	}
	return hmac.Equal([]byte(k.token(c.Value, siteOf(r))), []byte(posted))
}

// formToken returns the token for the login form, setting the pre-login
// cookie first when the browser has none.
func (g *Gate) formToken(w http.ResponseWriter, r *http.Request) string {
	name := g.preCookieName(r)
	pre := ""
	if c, err := r.Cookie(name); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 {
		pre = c.Value
	} else {
		var b [16]byte
		_, _ = rand.Read(b[:])
		pre = base64.RawURLEncoding.EncodeToString(b[:])
		// Path / so that every page that shows the form sees the same
		// cookie; it is stripped before the upstream like the others.
		setCookie(w, r, name, pre, "/", preCookieLife)
	}
	return g.svc.csrf.token(pre, siteOf(r))
}

// preCookieName is the pre-login cookie's name for r; see hostOnlyPrefix.
func (g *Gate) preCookieName(r *http.Request) string {
	return hostOnlyPrefix(r) + g.cfg.CookieName + "_pre"
}
