package login

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/publicsuffix"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// refreshAfter is how old a cookie must be before an idle timeout refreshes
// it: at most one new cookie a minute per visitor keeps the cost of a
// request flat.
const refreshAfter = time.Minute

// session returns the visitor's valid, unrevoked session for this site.
// With an idle timeout it also refreshes the cookie when it is due.
func (g *Gate) session(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	now := g.svc.now()
	s, ok := g.validSession(r, now)
	g.env.Metrics.SessionChecked(ok)
	if !ok {
		return session.Session{}, false
	}
	if g.cfg.IdleTimeout > 0 && now.Sub(s.Issued) >= min(refreshAfter, g.cfg.IdleTimeout/2) {
		if err := g.setSession(w, r, s, now); err != nil {
			g.log.Warn("cannot refresh a session cookie", zap.Error(err))
		}
	}
	return s, true
}

// validSession finds the visitor's valid, unrevoked session among the
// cookies of the gate's name. A browser may hold several (a domain-wide one
// and a host-only one, say) and sends them in no useful order, so every one
// is opened. When valid ones name different JIDs, the request counts as
// logged out: someone planted a session of their own (a sibling site can
// set a cookie for a longer path, which the browser sends first), and the
// visitor must not silently work as them.
func (g *Gate) validSession(r *http.Request, now time.Time) (session.Session, bool) {
	site := g.cookieSite(r)
	var found session.Session
	ok := false
	for _, c := range r.CookiesNamed(g.sessionCookieName(r)) {
		s, err := g.ring.Open(c.Value, site, now)
		if err != nil {
			if ce := g.log.Check(zap.DebugLevel, "session cookie refused"); ce != nil {
				ce.Write(zap.Error(err), zap.String("remote_ip", r.RemoteAddr))
			}
			continue
		}
		if !g.current(s, now) {
			continue
		}
		if ok && s.JID != found.JID {
			g.log.Warn("a request carried valid sessions of two people; treated as logged out",
				zap.String("jid", found.JID), zap.String("other_jid", s.JID), zap.String("site", site),
				zap.String("remote_ip", r.RemoteAddr))
			return session.Session{}, false
		}
		if !ok || s.Issued.After(found.Issued) {
			found, ok = s, true
		}
	}
	return found, ok
}

// current reports whether s still holds under the config as it is now,
// which may be stricter than when the cookie was made: the absolute
// lifetime, the idle timeout, and the revocation list.
func (g *Gate) current(s session.Session, now time.Time) bool {
	if !now.Before(s.Authenticated.Add(g.cfg.SessionLifetime)) {
		return false
	}
	if g.cfg.IdleTimeout > 0 && now.Sub(s.Issued) >= g.cfg.IdleTimeout {
		return false
	}
	return !g.svc.revoked.revoked(s.ID, now)
}

// logout ends the session: the cookie is cleared, and its id goes on the
// revocation list until the session would have expired, so a copy of the
// cookie (another device, a stolen one) stops working too. GET works as
// well as POST: links to log out are what sites have, and the worst a
// forged one can do is log someone out.
//
// Whatever the request carries, a logout costs one storage write at most:
// each session counts once, however many copies of its cookie came, and
// one already revoked not at all.
func (g *Gate) logout(w http.ResponseWriter, r *http.Request) error {
	g.endSession(w, r)
	if wantsHTML(r) {
		return g.renderPage(w, r, http.StatusOK, page{Kind: "loggedout", Return: "/"})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSession revokes the sessions r carries and clears the gate's cookies.
func (g *Gate) endSession(w http.ResponseWriter, r *http.Request) {
	now := g.svc.now()
	site := g.cookieSite(r)
	var ended []revocation
	seen := make(map[[16]byte]bool)
	for _, c := range r.CookiesNamed(g.sessionCookieName(r)) {
		s, err := g.ring.Open(c.Value, site, now)
		if err != nil || seen[s.ID] || g.svc.revoked.revoked(s.ID, now) {
			continue
		}
		seen[s.ID] = true
		// Until no site sharing the gate could accept it any more: the
		// longest lifetime any of them has had.
		until := s.Authenticated.Add(max(g.cfg.SessionLifetime, g.svc.longestLifetime()))
		if s.Expires.After(until) {
			until = s.Expires
		}
		ended = append(ended, revocation{id: s.ID, until: until})
		g.log.Info("logged out", zap.String("jid", s.JID), zap.String("site", site))
	}
	if len(ended) > 0 {
		// Not the request's context: a visitor who closes the tab must not
		// cancel the write.
		if err := g.svc.revoked.revoke(context.WithoutCancel(r.Context()), ended...); err != nil {
			g.log.Error("logout: the session is revoked here but could not be stored", zap.Error(err))
		}
	}
	g.setSessionCookie(w, r, "", 0)
	setCookie(w, r, g.loginCookieName(r), "", g.loginCookiePath(r), 0)
}

// issueSession sets the session cookie for a bare JID that has just
// proved itself.
func (g *Gate) issueSession(w http.ResponseWriter, r *http.Request, bare string) error {
	now := g.svc.now()
	return g.setSession(w, r, session.Session{JID: bare, Authenticated: now}, now)
}

// setSession seals s, issued now, and sets it as the session cookie. It
// expires at the end of the session's lifetime or, with an idle timeout,
// when the visitor has been away that long, whichever comes first.
func (g *Gate) setSession(w http.ResponseWriter, r *http.Request, s session.Session, now time.Time) error {
	s.Issued = now
	s.Expires = s.Authenticated.Add(g.cfg.SessionLifetime)
	if idle := now.Add(g.cfg.IdleTimeout); g.cfg.IdleTimeout > 0 && idle.Before(s.Expires) {
		s.Expires = idle
	}
	value, err := g.ring.Seal(s, g.cookieSite(r))
	if err != nil {
		return fmt.Errorf("seal session cookie: %w", err)
	}
	g.setSessionCookie(w, r, value, s.Expires.Sub(now))
	return nil
}

// setSessionCookie sets (or, with an empty value, clears) the session
// cookie with the configured attributes.
func (g *Gate) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     g.sessionCookieName(r),
		Value:    value,
		Path:     g.cfg.CookiePath,
		HttpOnly: true,
		Secure:   r.TLS != nil || g.sameSite == http.SameSiteNoneMode,
		SameSite: g.sameSite,
	}
	if g.domainWide(r) {
		c.Domain = g.cfg.CookieDomain
	} else if r.TLS != nil {
		c.Path = "/" // a __Host- cookie must have Path=/
	}
	if value != "" && maxAge > 0 {
		c.MaxAge = int((maxAge + time.Second - 1) / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// sessionCookieName is the session cookie's name for r. On HTTPS, unless
// the session is domain-wide, it is __Host-<cookie_name>: browsers accept
// a cookie of such a name only from this very host (Secure, Path=/, no
// Domain), so a sibling site (evil.example.com beside wiki.example.com)
// cannot plant a session of its own choosing, an attacker's valid one,
// that would log the visitor in as the attacker. A domain-wide session
// (cookie_domain) is by design shared with every host under the domain,
// and plain HTTP has no such protection to offer.
func (g *Gate) sessionCookieName(r *http.Request) string {
	if g.domainWide(r) {
		return g.cfg.CookieName
	}
	return hostOnlyPrefix(r) + g.cfg.CookieName
}

// domainWide reports whether r's session is the cookie domain's, shared
// by every host under it.
func (g *Gate) domainWide(r *http.Request) bool {
	return g.cfg.CookieDomain != "" && inDomain(siteOf(r), g.cfg.CookieDomain)
}

// cookieSite is the name a session is bound to: the cookie domain when
// one is set and the request is under it (one login for all its hosts),
// else the request's host.
func (g *Gate) cookieSite(r *http.Request) string {
	host := siteOf(r)
	if g.domainWide(r) {
		// The leading dot keeps a domain-wide session apart from one of
		// the host example.org itself.
		return "." + g.cfg.CookieDomain
	}
	return host
}

// inDomain reports whether host is domain or under it.
func inDomain(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

func parseSameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("cookie_same_site %q: want lax, strict or none", s)
}

// checkCookieDomain normalises a cookie domain and refuses one that would
// share the session with strangers: a public suffix such as co.uk or
// github.io, where anyone can have a host.
func checkCookieDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(d), "."), "."))
	if d == "" {
		return "", nil
	}
	if strings.ContainsAny(d, "/:@ ") {
		return "", fmt.Errorf("cookie_domain %q is not a domain name", d)
	}
	if !strings.Contains(d, ".") {
		return "", fmt.Errorf("cookie_domain %q has a single label; browsers refuse such cookie domains", d)
	}
	if suffix, _ := publicsuffix.PublicSuffix(d); suffix == d {
		return "", fmt.Errorf("cookie_domain %q is a public suffix: a cookie for it would reach other people's sites", d)
	}
	return d, nil
}
