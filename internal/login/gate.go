package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// Config is one gate's configuration, as a site sets it, with the server's
// placeholders already resolved. A zero field takes its default.
type Config struct {
	// Allow and Deny are bare JIDs and domains; Deny wins. An empty Allow
	// lets in anyone whose XMPP account confirms.
	Allow, Deny []string
	// SessionLifetime is the longest a session lasts. Default: 24h.
	SessionLifetime time.Duration
	// LoginTimeout is how long a login waits for its answer, at most an
	// hour. Default: 2m.
	LoginTimeout time.Duration
	// IdleTimeout ends a session unused this long. Default: none.
	IdleTimeout time.Duration
	// UserHeader carries the JID to the upstream. Default: X-Forwarded-User.
	UserHeader string
	// CookieName is the session cookie's name. Default: xmpp_auth.
	CookieName string
	// CookieDomain shares one login among the hosts under it. Default: this
	// host only.
	CookieDomain string
	// CookiePath is the session cookie's path. Default: /.
	CookiePath string
	// CookieSameSite is lax, strict or none. Default: lax.
	CookieSameSite string
	// PathPrefix is where the gate serves its own pages. Default:
	// /.xmpp-auth/.
	PathPrefix string
	// SiteName names the site to the visitor. Default: the request's
	// host.
	SiteName string
	// Language is the site's default language. Default: en.
	Language string
	// Messages is a file of XMPP message texts; Templates a folder whose
	// page.html replaces the built-in pages. Default: the built-in ones.
	Messages, Templates string
	// PassPreflight lets CORS preflights without a session reach the
	// upstream (preflight.go).
	PassPreflight bool
	// Ring signs and opens the session cookies. Required.
	Ring *session.Ring
}

// Gate is one site's login: a request with a valid session goes on to the
// next handler, with the visitor's bare JID in the user header; any other
// gets the login page (browsers), a 401 without a challenge (browser
// scripts) or the XEP-0070 challenge (other clients). Everything under
// PathPrefix belongs to the gate and never reaches the upstream.
type Gate struct {
	cfg      Config
	svc      *Service
	env      Env
	log      *zap.Logger
	ring     *session.Ring
	allowed  access
	sameSite http.SameSite
	langs    languages
	pages    *template.Template
	warned   atomic.Bool // of a host that names no site
}

// NewGate checks cfg, fills in its defaults and makes the gate: the one
// way a gate is made, by the server and by tests alike.
func NewGate(svc *Service, cfg Config, env Env) (*Gate, error) {
	g := &Gate{svc: svc, env: env.withDefaults()}
	g.log = g.env.Logger
	var err error
	if cfg.Ring == nil {
		return nil, errors.New("no session key ring")
	}
	g.ring = cfg.Ring
	if g.allowed, err = parseAccess(cfg.Allow, cfg.Deny); err != nil {
		return nil, err
	}
	cfg.SessionLifetime = orDefault(cfg.SessionLifetime, 24*time.Hour)
	cfg.LoginTimeout = orDefault(cfg.LoginTimeout, 2*time.Minute)
	cfg.UserHeader = orDefault(cfg.UserHeader, "X-Forwarded-User")
	cfg.CookieName = orDefault(cfg.CookieName, "xmpp_auth")
	cfg.PathPrefix = orDefault(cfg.PathPrefix, "/.xmpp-auth/")
	if !strings.HasSuffix(cfg.PathPrefix, "/") {
		cfg.PathPrefix += "/"
	}
	cfg.CookiePath = orDefault(cfg.CookiePath, "/")
	cfg.CookieSameSite = orDefault(cfg.CookieSameSite, "lax")
	cfg.Language = orDefault(cfg.Language, "en")
	if g.sameSite, err = parseSameSite(cfg.CookieSameSite); err != nil {
		return nil, err
	}
	if cfg.CookieDomain, err = checkCookieDomain(cfg.CookieDomain); err != nil {
		return nil, err
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	g.cfg = cfg
	if g.langs, g.pages, err = loadLanguages(cfg.Language, cfg.Messages, cfg.Templates); err != nil {
		return nil, err
	}
	return g, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkConfig refuses values that no default can mend.
func checkConfig(cfg Config) error {
	var errs []error
	if cfg.SessionLifetime < 0 {
		errs = append(errs, fmt.Errorf("session_lifetime %s is negative", cfg.SessionLifetime))
	}
	if cfg.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout %s is negative", cfg.IdleTimeout))
	}
	if cfg.LoginTimeout < 0 || cfg.LoginTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("login_timeout %s is not between 0 and 1h", cfg.LoginTimeout))
	}
	if !strings.HasPrefix(cfg.PathPrefix, "/") {
		errs = append(errs, fmt.Errorf("path_prefix %q must start with /", cfg.PathPrefix))
	}
	if strings.ContainsAny(cfg.CookieName, " ;,=\t\r\n\"") {
		errs = append(errs, fmt.Errorf("cookie_name %q is not a valid cookie name", cfg.CookieName))
	}
	if strings.HasPrefix(cfg.CookieName, "__Host-") || strings.HasPrefix(cfg.CookieName, "__Secure-") {
		errs = append(errs, fmt.Errorf("cookie_name %q: the gate sets its cookies' attributes itself; a __Host- or __Secure- name would make browsers refuse some of them", cfg.CookieName))
	}
	// The session cookie must reach the gate's own pages, or logout could
	// not revoke it, and pages outside the path would loop to the login.
	if !strings.HasPrefix(cfg.PathPrefix, strings.TrimSuffix(cfg.CookiePath, "/")+"/") {
		errs = append(errs, fmt.Errorf("path_prefix %q must lie under cookie_path %q", cfg.PathPrefix, cfg.CookiePath))
	}
	if http.CanonicalHeaderKey(cfg.UserHeader) == "Cookie" || strings.ContainsAny(cfg.UserHeader, " :\t\r\n") {
		errs = append(errs, fmt.Errorf("user_header %q is not usable", cfg.UserHeader))
	}
	return errors.Join(errs...)
}

// SessionLifetime is the gate's session lifetime, with its default: what
// the server tells Service.Commit.
func (g *Gate) SessionLifetime() time.Duration { return g.cfg.SessionLifetime }

// ServeHTTP gates one request: the gate's own pages, a request with a
// session, or one without. It returns a *StatusError for a client that
// does not read HTML.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request, next Handler) error {
	if page, ok := g.gatePage(r); ok {
		return g.serveGate(w, r, page)
	}
	if s, ok := g.session(w, r); ok {
		if !g.allowed.admits(s.JID) {
			return g.forbidden(w, r, s.JID)
		}
		g.pass(r, s.JID)
		return next.ServeHTTP(w, r)
	}
	if isCORSPreflight(r) {
		return g.servePreflight(w, r, next)
	}
	if done, err := g.serveBasicLogin(w, r, next); done {
		return err
	}
	return g.challenge(w, r)
}

// gatePage returns the name of the gate page a request is for, if any. A
// rewrite before the gate (try_files for a single-page app, say) may have
// changed the path, so the path the client asked for counts too.
func (g *Gate) gatePage(r *http.Request) (string, bool) {
	if p, ok := strings.CutPrefix(r.URL.Path, g.cfg.PathPrefix); ok {
		return p, true
	}
	return strings.CutPrefix(g.env.OriginalURL(r).Path, g.cfg.PathPrefix)
}

// pass prepares the request for the upstream: who the visitor is, and
// nothing of the gate's own cookies, which are the gate's secret.
func (g *Gate) pass(r *http.Request, jid string) {
	g.env.SetUser(r, jid)
	deleteHeader(r.Header, g.cfg.UserHeader)
	r.Header.Set(g.cfg.UserHeader, jid)
	g.stripGateCookies(r.Header)
	scrubTrailers(r, g.cfg.UserHeader)
}

// challenge answers a request without a session: browsers get the login
// page, their scripts a 401 that opens no password dialog, and every other
// client the XEP-0070 challenge.
func (g *Gate) challenge(w http.ResponseWriter, r *http.Request) error {
	// Whatever the client sent as the user header must not survive, even
	// on the way to an error handler.
	deleteHeader(r.Header, g.cfg.UserHeader)
	if wantsHTML(r) && !isUpgradeRequest(r) {
		// A form sent while logged out is not delivered: the page says so,
		// and the visitor comes back to the same URL to send it again.
		resend := r.Method != http.MethodGet && r.Method != http.MethodHead
		return g.renderPage(w, r, http.StatusUnauthorized, page{Kind: "login", Return: g.returnPath(r), Resend: resend})
	}
	if fromBrowser(r) {
		return g.scriptUnauthorized(w)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="xmpp"`)
	w.Header().Set("Cache-Control", "no-store")
	return statusError(http.StatusUnauthorized, "log in with your XMPP address")
}

// scriptUnauthorized answers a browser's request for something other than
// a page (fetch, XHR, an image, a CORS preflight) that has no session: 401 without a Basic challenge, since a
// browser answers that challenge with its password dialog, and what the
// person types there would be sent to their XMPP account as the "code"
// (XEP-0070 v1.0.2 §6.4 warns of exactly this). The body says where to log
// in, for a script that wants to send the visitor there.
func (g *Gate) scriptUnauthorized(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	return json.NewEncoder(w).Encode(loginRequired{Error: "login required", Login: g.cfg.PathPrefix + "login"})
}

// loginRequired is scriptUnauthorized's JSON body.
type loginRequired struct {
	Error string `json:"error"`
	Login string `json:"login"` // the login page's path on this site
}

// fromBrowser tells a request a browser makes, other than a navigation to
// a page (which gets the login page): a script's fetch or XHR, an image,
// a style sheet. Browsers send Sec-Fetch-Mode (cors, no-cors,
// same-origin, websocket), but only to secure origins; Origin, but not
// with a same-origin GET; and always a User-Agent that begins with
// "Mozilla/", which API clients (curl, HTTP libraries) do not send. A
// browser answers a Basic challenge with its password dialog, so none of
// these gets one.
func fromBrowser(r *http.Request) bool {
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return true
	}
	return r.Header.Get("Origin") != "" || strings.HasPrefix(r.Header.Get("User-Agent"), "Mozilla/")
}

// forbidden answers a visitor who is logged in but may not use this site
// (the rules are checked on every request, so a change to them applies at
// once): who they are, and how to log out, never the login form again,
// which would only loop.
func (g *Gate) forbidden(w http.ResponseWriter, r *http.Request, jid string) error {
	deleteHeader(r.Header, g.cfg.UserHeader)
	if wantsHTML(r) {
		return g.renderPage(w, r, http.StatusForbidden, page{Kind: "forbidden", JID: jid, Return: "/"})
	}
	w.Header().Set("Cache-Control", "no-store")
	return statusError(http.StatusForbidden, jid+" may not use this site")
}

// hostNamesSite reports whether r's host may be named in an XMPP message:
// a host matcher of the server names it. The message and its <confirm/>
// carry the URL the login is for, on that host; on a site that answers
// any host, the Host header is the visitor's choice, and anyone could
// have a person asked to log in to "https://bank.example/" (site_name
// names the site in the text, but cannot vouch for the URL). The operator
// is told once.
func (g *Gate) hostNamesSite(r *http.Request) bool {
	if g.env.HostNamed(r) {
		return true
	}
	if g.warned.CompareAndSwap(false, true) {
		g.log.Warn("refused a login for a host that no host matcher of this server names: on a site that answers any host, "+
			"the Host header, which the visitor chooses, would be the URL in the XMPP message; name the site's hosts "+
			"(a site address, or a host matcher)",
			zap.String("host", r.Host), zap.String("remote_ip", r.RemoteAddr))
	}
	return false
}

func (g *Gate) loginCookieName(r *http.Request) string {
	return hostOnlyPrefix(r) + g.cfg.CookieName + "_login"
}

// loginCookiePath is where the login cookie is sent: only to the gate's
// own pages, except on HTTPS, where its __Host- name needs Path=/.
func (g *Gate) loginCookiePath(r *http.Request) string {
	if r.TLS != nil {
		return "/"
	}
	return g.cfg.PathPrefix
}

// hostOnlyPrefix is "__Host-" on HTTPS: browsers accept a cookie of such a
// name only with Secure, Path=/ and no Domain, so a sibling site
// (evil.example.com beside wiki.example.com) cannot plant the cookies of
// this one. Plain HTTP has no such protection to offer.
func hostOnlyPrefix(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-"
	}
	return ""
}

// wantsHTML tells a browser navigation from an API call: browsers ask for
// text/html; fetch, XHR, curl and API clients do not.
func wantsHTML(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// siteOf is the host a cookie belongs to, without port: browsers share
// cookies across ports, so the port cannot tell sites apart anyway.
func siteOf(r *http.Request) string {
	host := r.Host
	// Only a host with a colon can have a port; SplitHostPort would make
	// an error of every other one, on every request.
	if strings.IndexByte(host, ':') >= 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}
