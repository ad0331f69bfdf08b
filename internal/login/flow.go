package login

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// longPoll is how long the status endpoint holds a request open before
// answering "still pending"; under common proxy idle timeouts.
const longPoll = 25 * time.Second

// serveGate serves the gate's own pages under PathPrefix.
func (g *Gate) serveGate(w http.ResponseWriter, r *http.Request, name string) error {
	switch name {
	case "login":
		switch r.Method {
		case http.MethodPost:
			return g.startLogin(w, r)
		case http.MethodGet, http.MethodHead:
			return g.renderPage(w, r, http.StatusOK, page{Kind: "login", Return: "/"})
		}
		w.Header().Set("Allow", "GET, HEAD, POST")
		return g.renderPage(w, r, http.StatusMethodNotAllowed, page{Kind: "notfound", Return: "/"})
	case "wait":
		switch r.Method {
		case http.MethodPost:
			return g.wait(w, r)
		case http.MethodGet, http.MethodHead:
			return g.resume(w, r)
		}
		w.Header().Set("Allow", "GET, HEAD, POST")
		return g.renderPage(w, r, http.StatusMethodNotAllowed, page{Kind: "notfound", Return: "/"})
	case "status":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			return g.renderPage(w, r, http.StatusMethodNotAllowed, page{Kind: "notfound", Return: "/"})
		}
		return g.status(w, r)
	case "logout":
		if !g.logoutIsOwn(r) {
			return g.renderPage(w, r, http.StatusOK, page{Kind: "logout", Return: "/"})
		}
		return g.logout(w, r)
	}
	return g.renderPage(w, r, http.StatusNotFound, page{Kind: "notfound", Return: "/"})
}

// startLogin takes the login form: it checks the address, sends the
// confirmation and sends the browser to the waiting page.
func (g *Gate) startLogin(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		return g.renderPage(w, r, http.StatusBadRequest, page{Kind: "login", Return: "/", Error: "err_form_unreadable"})
	}
	ret := safeReturn(r.PostForm.Get("return"))
	typed := strings.TrimSpace(r.PostForm.Get("jid"))
	p := page{Kind: "login", Return: ret, JID: typed, Resend: r.PostForm.Get("resend") != ""}

	if !sameOrigin(r) || !g.svc.csrf.valid(r, g.preCookieName(r), r.PostForm.Get("csrf")) {
		p.Error = "err_form_expired"
		return g.renderPage(w, r, http.StatusForbidden, p)
	}
	addr, err := parseVisitorJID(typed)
	if err != nil {
		p.Error = err.Error()
		return g.renderPage(w, r, http.StatusBadRequest, p)
	}
	if g.svc.ownDomain(addr) {
		p.Error = "err_jid_invalid"
		return g.renderPage(w, r, http.StatusBadRequest, p)
	}
	if ipLiteralDomain(addr.Domainpart()) && !g.allowed.namesDomain(addr) {
		p.Error = "err_jid_ip_literal"
		return g.renderPage(w, r, http.StatusBadRequest, p)
	}
	p.JID = addr.String()
	if !g.allowed.admits(addr.Bare().String()) {
		p.Kind = "notallowed"
		return g.renderPage(w, r, http.StatusForbidden, p)
	}
	if !g.hostNamesSite(r) {
		p.Kind = "notfound"
		return g.renderPage(w, r, http.StatusMisdirectedRequest, p)
	}
	if !g.svc.comp.Connected() {
		p.Kind = "unreachable"
		return g.renderPage(w, r, http.StatusServiceUnavailable, p)
	}
	bare, ip := addr.Bare().String(), g.env.ClientIP(r)
	if err := g.svc.limits.acquire(bare, ip, g.svc.now()); err != nil {
		g.log.Debug("login refused by a limit", zap.String("jid", bare), zap.String("client_ip", ip), zap.Error(err))
		p.Kind = "busy"
		switch {
		case errors.Is(err, errBusy):
			p.Limit = "all"
			return g.renderPage(w, r, http.StatusServiceUnavailable, p)
		case errors.Is(err, errTooManyFromIP):
			p.Limit = "ip"
		default:
			p.Limit = "jid"
		}
		return g.renderPage(w, r, http.StatusTooManyRequests, p)
	}

	pre := ""
	if c, err := r.Cookie(g.preCookieName(r)); err == nil { // there: the token check needs it
		pre = c.Value
	}
	l := &login{jid: addr, code: xepauth.NewCode(6), returnTo: ret, site: siteOf(r), resend: p.Resend, pre: pre, secret: newLoginID()}
	req := xepauth.Request{
		JID:      addr,
		Site:     g.siteName(r),
		URL:      scheme(r) + "://" + r.Host + ret,
		Method:   http.MethodGet,
		Code:     l.code,
		Language: g.messageLang(r),
		Messages: g.xmppMessages(),
	}
	timeout := g.cfg.LoginTimeout
	g.svc.logins.start(g.svc.ctx, g.svc.comp, l, req, timeout, func(o xepauth.Outcome) {
		g.svc.limits.release(bare, ip)
		g.env.Metrics.Asked(o.Result.String())
	})
	g.log.Info("login asked", zap.String("jid", addr.String()), zap.String("site", l.site), zap.String("remote_ip", r.RemoteAddr))
	setCookie(w, r, g.loginCookieName(r), l.id, g.loginCookiePath(r), timeout+keepDone)
	// The waiting page itself, not a redirect to it: the code and the
	// login's secret go only into the answer to the post that started
	// the login (see ownLogin). Its script moves the address bar to the
	// waiting page's own address, so a reload never posts the form again.
	p.Kind = "wait"
	p.Code = l.code
	p.Secret = l.secret
	p.Seconds = int(timeout.Seconds())
	return g.renderPage(w, r, http.StatusOK, p)
}

// resume answers a plain GET of the waiting page (a reload, or a link):
// it shows neither the code nor the outcome, which only the page that
// posted the form may see. Its script posts the login's secret back, when
// this tab keeps it (the waiting page stores it in sessionStorage), to
// show the waiting page again.
func (g *Gate) resume(w http.ResponseWriter, r *http.Request) error {
	l := g.loginOf(r)
	if l == nil {
		return g.renderPage(w, r, http.StatusNotFound, page{Kind: "expired", Return: "/"})
	}
	return g.renderPage(w, r, http.StatusOK, page{Kind: "resume", Return: l.returnTo})
}

// wait shows the login in progress, or its outcome, to the page that
// started it; on approval it sets the session cookie and returns the
// visitor to where they were going. The waiting page's script long-polls
// status, which cashes in an approval itself, and posts here for the
// other outcomes; without JavaScript, its button posts here.
func (g *Gate) wait(w http.ResponseWriter, r *http.Request) error {
	l := g.ownLogin(w, r)
	if l == nil {
		return g.renderPage(w, r, http.StatusNotFound, page{Kind: "expired", Return: "/"})
	}
	p := page{Return: l.returnTo, JID: l.jid.String(), Code: l.code, Resend: l.resend, Secret: l.secret}
	o, done := l.finished()
	if !done {
		p.Kind = "wait"
		p.Seconds = max(0, int(l.expires.Sub(g.svc.now()).Seconds()))
		return g.renderPage(w, r, http.StatusOK, p)
	}
	switch o.Result {
	case xepauth.Approved:
		if !g.finish(w, r, l) {
			return g.renderPage(w, r, http.StatusNotFound, page{Kind: "expired", Return: l.returnTo})
		}
		http.Redirect(w, r, l.returnTo, http.StatusSeeOther)
		return nil
	case xepauth.Denied:
		p.Kind = "denied"
		return g.renderPage(w, r, http.StatusForbidden, p)
	case xepauth.Unreachable:
		p.Kind = "unreachable"
		return g.renderPage(w, r, http.StatusServiceUnavailable, p)
	default:
		p.Kind = "timeout"
		return g.renderPage(w, r, http.StatusUnauthorized, p)
	}
}

// finish cashes in an approved login, once: the session cookie is set and
// the login forgotten. It reports false when the login was cashed in
// already (another tab, a replayed request) or the cookie could not be
// made.
func (g *Gate) finish(w http.ResponseWriter, r *http.Request, l *login) bool {
	if !g.svc.logins.forget(l.id) {
		return false
	}
	if err := g.issueSession(w, r, l.jid.Bare().String()); err != nil {
		g.log.Error("cannot make a session cookie", zap.Error(err))
		return false
	}
	setCookie(w, r, g.loginCookieName(r), "", g.loginCookiePath(r), 0)
	g.log.Info("login approved", zap.String("jid", l.jid.Bare().String()), zap.String("site", l.site))
	w.Header().Set("Cache-Control", "no-store")
	return true
}

// status answers the waiting page's long poll: as soon as the outcome is
// known, or after longPoll with "pending". An approval is cashed in right
// here, the session cookie set on this answer and the return path in it,
// so the script goes straight on instead of through the waiting page.
func (g *Gate) status(w http.ResponseWriter, r *http.Request) error {
	state, location := "gone", ""
	if l := g.ownLogin(w, r); l != nil {
		if !l.startPoll() {
			state = "busy"
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusTooManyRequests)
			return json.NewEncoder(w).Encode(statusAnswer{State: state})
		}
		defer l.endPoll()
		timer := time.NewTimer(longPoll)
		select {
		case <-l.done:
		case <-timer.C:
		case <-r.Context().Done():
		}
		timer.Stop()
		if r.Context().Err() != nil {
			// The browser has gone (a tab put to sleep, a poll aborted):
			// an approval cashed in now would set its cookie on an answer
			// nobody reads. The next poll or the waiting page cashes it in.
			return nil
		}
		state = "pending"
		if o, ok := l.finished(); ok {
			state = o.Result.String()
			if o.Result == xepauth.Approved {
				if g.finish(w, r, l) {
					location = l.returnTo
				} else {
					state = "gone"
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(statusAnswer{State: state, Location: location})
}

// statusAnswer is the status endpoint's JSON: state is pending, approved,
// denied, unreachable, timeout, busy (too many polls of this login at
// once: try again in a second) or gone (no such login, or cashed in
// already, or not this page's); location, with approved, is where the
// visitor was going.
type statusAnswer struct {
	State    string `json:"state"`
	Location string `json:"location,omitempty"`
}

// loginOf finds the login the browser's login cookie names, on this site.
func (g *Gate) loginOf(r *http.Request) *login {
	c, err := r.Cookie(g.loginCookieName(r))
	if err != nil {
		return nil
	}
	l := g.svc.logins.get(c.Value)
	if l == nil || l.site != siteOf(r) {
		return nil
	}
	// The login belongs to the browser that started it: a login cookie
	// planted from a sibling domain (the attacker's approved login) does
	// not come with this browser's pre-login cookie, and on HTTPS neither
	// can be planted (hostOnlyPrefix).
	pre, err := r.Cookie(g.preCookieName(r))
	if err != nil || subtle.ConstantTimeCompare([]byte(pre.Value), []byte(l.pre)) != 1 {
		return nil
	}
	return l
}

// ownLogin is loginOf for the page that started the login: the request
// must also come from this site and carry the login's secret, which only
// the answer to the login form held. On plain HTTP a sibling site can
// plant the login and pre-login cookies of a login the attacker started
// for the victim's address in the victim's browser, and link it to the
// waiting page: without the secret, that page shows no code to compare
// and cashes in nothing, so the victim has no reason to approve, and an
// approval reaches only the attacker's own page, with the victim's
// session in it, if the victim approves blindly anyway.
func (g *Gate) ownLogin(w http.ResponseWriter, r *http.Request) *login {
	l := g.loginOf(r)
	if l == nil || !sameOrigin(r) {
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get(loginSecretField)), []byte(l.secret)) != 1 {
		return nil
	}
	return l
}

// loginSecretField is the form field that carries a login's secret back
// from its waiting page.
const loginSecretField = "k"

// parseVisitorJID reads the address typed in the form, forgiving an
// xmpp: URI prefix. A resource is kept: XEP-0070 asks a full JID by iq.
func parseVisitorJID(s string) (jid.JID, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "xmpp:")
	if s == "" {
		return jid.JID{}, errBadJID("err_jid_empty")
	}
	j, err := jid.Parse(s)
	if err != nil || j.Localpart() == "" || !canonicalJID(j) {
		return jid.JID{}, errBadJID("err_jid_invalid")
	}
	// An address an XMPP server could read as another account's (aliß,
	// which stringprep servers read as aliss) would get past rules and
	// reach upstreams under a name that is not the account's.
	if checkSpelling(s, j) != nil {
		return jid.JID{}, errBadJID("err_jid_ambiguous")
	}
	// The bare JID goes into the cookie, which must stay small.
	if len(j.Bare().String()) > maxJIDLen {
		return jid.JID{}, errBadJID("err_jid_too_long")
	}
	return j, nil
}

// canonicalJID reports whether j reads back as itself. mellium strips one
// trailing dot from a domain, so "a@example.org.." parses as
// "a@example.org.", which parses as "a@example.org": the allow and deny
// lists would judge one name while the XMPP server delivers to another.
func canonicalJID(j jid.JID) bool {
	again, err := jid.Parse(j.String())
	return err == nil && again.String() == j.String()
}

// maxJIDLen bounds the bare JID a visitor may log in with: far above any
// real address, and low enough to keep the session cookie under 1 KB.
const maxJIDLen = 512

// errBadJID is why a typed address was refused: a key of the page texts
// (texts_en.go); the login page shows its text in the visitor's language.
type errBadJID string

func (e errBadJID) Error() string { return string(e) }

// logoutIsOwn reports whether a logout comes from this site, or from a
// client that is no browser: a link on another site (or an image there)
// must not log the visitor out. A POST must come from this site (Origin);
// a browser's GET, from a page of this site (Sec-Fetch-Site, or, where
// the browser sends no Fetch Metadata, the Referer). Other GETs get a page
// with a button that posts.
func (g *Gate) logoutIsOwn(r *http.Request) bool {
	if r.Method == http.MethodPost {
		return sameOrigin(r)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none" // none: typed in the address bar
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	return !fromBrowser(r) && !wantsHTML(r)
}

// sameOrigin refuses a login form posted from another site: browsers send
// Origin with every POST, so a missing one means a non-browser client,
// which cannot be tricked into posting; a browser that says the request is
// cross-site (Sec-Fetch-Site) is believed too.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// siteName is how the site is named to the visitor.
func (g *Gate) siteName(r *http.Request) string {
	if g.cfg.SiteName != "" {
		return g.cfg.SiteName
	}
	return siteOf(r)
}
