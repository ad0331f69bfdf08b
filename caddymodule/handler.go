package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

func init() {
	caddy.RegisterModule(new(Handler))
}

// Handler gates a site: a request with a valid session cookie goes on to
// the next handler, with the visitor's bare JID in {http.auth.user.id} and
// in a request header; any other request gets the login page (browsers) or
// 401 with WWW-Authenticate: Basic realm="xmpp" (other clients, as XEP-0070
// §4.2 says).
//
// Everything under PathPrefix belongs to the gate (the login form, the
// waiting page) and never reaches the upstream.
type Handler struct {
	// Allow lists who may log in: bare JIDs (alice@example.org) and whole
	// domains (example.org). Empty: anyone whose XMPP account confirms.
	Allow []string `json:"allow,omitempty"`
	// Deny lists who may not log in, in the same forms; it wins over
	// Allow.
	Deny []string `json:"deny,omitempty"`
	// SessionLifetime is how long a session cookie stays valid. Default: 24h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`
	// LoginTimeout is how long the visitor has to answer in their XMPP
	// client. Default: 2m.
	LoginTimeout caddy.Duration `json:"login_timeout,omitempty"`
	// UserHeader is the request header the upstream reads the JID from.
	// Any copy the client sent is removed first. Default: X-Forwarded-User.
	UserHeader string `json:"user_header,omitempty"`
	// CookieName is the session cookie's name; the login in progress uses
	// the same name with "_login" appended. Default: xmpp_auth.
	CookieName string `json:"cookie_name,omitempty"`
	// PathPrefix is where the gate serves its own pages. Default:
	// /.xmpp-auth/
	PathPrefix string `json:"path_prefix,omitempty"`
	// SessionKeys sign and verify the cookies: the first signs, all
	// verify, so a key can be rotated without logging anyone out (add the
	// new one first; drop the old one once its cookies have expired). Each
	// at least 32 bytes, best given as a placeholder
	// ({env.XEPAUTH_SESSION_KEY}). When empty, a key is generated once and
	// kept in Caddy's storage, so a restart logs nobody out.
	SessionKeys []string `json:"session_keys,omitempty"`
	// IdleTimeout ends a session that has not been used for this long;
	// every use extends it (the cookie is refreshed at most once a minute),
	// up to SessionLifetime. Default: 0, no idle timeout.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
	// CookieDomain, when set, makes one login valid on every host under
	// that domain (for example example.org for wiki.example.org and
	// git.example.org). A public suffix is refused. Default: the request's
	// host only.
	CookieDomain string `json:"cookie_domain,omitempty"`
	// CookiePath limits the session cookie to a path. Default: /.
	CookiePath string `json:"cookie_path,omitempty"`
	// CookieSameSite is lax, strict or none (none requires HTTPS).
	// Default: lax, so the cookie comes along when a visitor follows a link
	// to the site.
	CookieSameSite string `json:"cookie_same_site,omitempty"`
	// SiteName names the site in the XMPP message and on the pages.
	// Default: the request's host, when a host matcher of the server names
	// it; on a site that answers any host, logins are refused until
	// site_name is set, since the Host header is the visitor's choice.
	SiteName string `json:"site_name,omitempty"`
	// Language is the site's default language, for the pages and the XMPP
	// message: each request gets the best of its Accept-Language among the
	// languages there are (en, fr, and those of the messages file for the
	// message), and this one when none fits. Default: en.
	Language string `json:"language,omitempty"`
	// Messages is a file of XMPP message texts, one lang=text line per
	// language, as the reference component's messages.lang (see the
	// README). Read at every config load. Default: the built-in texts.
	Messages string `json:"messages,omitempty"`
	// Templates is a folder whose page.html replaces the built-in page
	// template (see the README for the data it gets). Read at every config
	// load. Default: the built-in page.
	Templates string `json:"templates,omitempty"`
	// PassPreflight lets CORS preflights without a session reach the
	// upstream, for a site whose cross-origin callers need its answer
	// before they have a session (as oauth2-proxy's
	// --skip-auth-preflight). Anyone can send a request of a preflight's
	// shape, so the upstream gets only its method, path and headers (no
	// query string, body, cookies, credentials or upgrade), and only the
	// status and CORS headers of its answer come back; an upstream that
	// acts on OPTIONS, or tells which paths exist by its status, still
	// does so for anyone. Default: false, the gate answers preflights
	// without a session with 401 and no CORS headers.
	PassPreflight bool `json:"pass_preflight,omitempty"`

	gate     *gate
	ring     *session.Ring
	allowed  access
	sameSite http.SameSite
	langs    languages
	pages    *template.Template
	logger   *zap.Logger
	proxies  *nonStrictProxies
	hosts    *siteHosts
}

// CaddyModule returns the Caddy module information.
func (*Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xmpp_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the xmpp_auth app, the session key and the defaults.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.proxies = new(nonStrictProxies)
	h.hosts = newSiteHosts(ctx)
	appIface, err := ctx.AppIfConfigured("xmpp_auth")
	if err != nil {
		if errors.Is(err, caddy.ErrNotConfigured) {
			return errors.New("xmpp_auth handler: no XMPP component configured; add the global option " +
				"xmpp_auth { server 127.0.0.1:5347; domain auth.example.org; secret {env.XMPP_COMPONENT_SECRET} } " +
				"(JSON: apps.xmpp_auth)")
		}
		return fmt.Errorf("xmpp_auth handler: load the xmpp_auth app: %w", err)
	}
	h.gate = appIface.(*App).gate

	if h.allowed, err = parseAccess(h.Allow, h.Deny); err != nil {
		return fmt.Errorf("xmpp_auth handler: %w", err)
	}
	if h.SessionLifetime == 0 {
		h.SessionLifetime = caddy.Duration(24 * time.Hour)
	}
	if h.LoginTimeout == 0 {
		h.LoginTimeout = caddy.Duration(2 * time.Minute)
	}
	if h.UserHeader == "" {
		h.UserHeader = "X-Forwarded-User"
	}
	if h.CookieName == "" {
		h.CookieName = "xmpp_auth"
	}
	if h.PathPrefix == "" {
		h.PathPrefix = "/.xmpp-auth/"
	}
	if !strings.HasSuffix(h.PathPrefix, "/") {
		h.PathPrefix += "/"
	}
	if err := h.provisionLanguages(); err != nil {
		return fmt.Errorf("xmpp_auth handler: %w", err)
	}
	if h.CookiePath == "" {
		h.CookiePath = "/"
	}
	h.gate.longestLifetime(time.Duration(h.SessionLifetime))
	if h.CookieSameSite == "" {
		h.CookieSameSite = "lax"
	}
	if h.sameSite, err = parseSameSite(h.CookieSameSite); err != nil {
		return fmt.Errorf("xmpp_auth handler: %w", err)
	}
	if h.CookieDomain, err = checkCookieDomain(h.CookieDomain); err != nil {
		return fmt.Errorf("xmpp_auth handler: %w", err)
	}
	repl := caddy.NewReplacer()
	keys := make([]string, len(h.SessionKeys))
	for i, k := range h.SessionKeys {
		if keys[i] = repl.ReplaceKnown(k, ""); keys[i] == "" {
			return fmt.Errorf("xmpp_auth handler: session key %q is empty once resolved (is the variable set?); "+
				"remove the option to use a key kept in Caddy's storage", k)
		}
	}
	h.ring, err = loadRing(ctx, keys)
	if err != nil {
		return fmt.Errorf("xmpp_auth handler: session key: %w", err)
	}
	return nil
}

// Validate checks the values Provision could not default.
func (h *Handler) Validate() error {
	var errs []error
	if h.SessionLifetime < 0 {
		errs = append(errs, fmt.Errorf("session_lifetime %s is negative", time.Duration(h.SessionLifetime)))
	}
	if h.LoginTimeout < 0 || time.Duration(h.LoginTimeout) > time.Hour {
		errs = append(errs, fmt.Errorf("login_timeout %s is not between 0 and 1h", time.Duration(h.LoginTimeout)))
	}
	if !strings.HasPrefix(h.PathPrefix, "/") {
		errs = append(errs, fmt.Errorf("path_prefix %q must start with /", h.PathPrefix))
	}
	if strings.ContainsAny(h.CookieName, " ;,=\t\r\n\"") {
		errs = append(errs, fmt.Errorf("cookie_name %q is not a valid cookie name", h.CookieName))
	}
	if strings.HasPrefix(h.CookieName, "__Host-") || strings.HasPrefix(h.CookieName, "__Secure-") {
		errs = append(errs, fmt.Errorf("cookie_name %q: the gate sets its cookies' attributes itself; a __Host- or __Secure- name would make browsers refuse some of them", h.CookieName))
	}
	// The session cookie must reach the gate's own pages, or logout could
	// not revoke it, and pages outside the path would loop to the login.
	if !strings.HasPrefix(h.PathPrefix, strings.TrimSuffix(h.CookiePath, "/")+"/") {
		errs = append(errs, fmt.Errorf("path_prefix %q must lie under cookie_path %q", h.PathPrefix, h.CookiePath))
	}
	if http.CanonicalHeaderKey(h.UserHeader) == "Cookie" || strings.ContainsAny(h.UserHeader, " :\t\r\n") {
		errs = append(errs, fmt.Errorf("user_header %q is not usable", h.UserHeader))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xmpp_auth handler: %w", err)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if page, ok := h.gatePage(r); ok {
		return h.serveGate(w, r, page)
	}
	if s, ok := h.session(w, r); ok {
		if !h.allowed.admits(s.JID) {
			return h.forbidden(w, r, s.JID)
		}
		h.pass(r, s.JID)
		return next.ServeHTTP(w, r)
	}
	if done, err := h.serveWithoutSession(w, r, next); done {
		return err
	}
	return h.challenge(w, r)
}

// gatePage returns the name of the gate page a request is for, if any. A
// rewrite before the gate (try_files for a single-page app, say) may have
// changed the path, so the path the client asked for counts too.
func (h *Handler) gatePage(r *http.Request) (string, bool) {
	if p, ok := strings.CutPrefix(r.URL.Path, h.PathPrefix); ok {
		return p, true
	}
	// Read in place: taking the copy's address would allocate on every
	// request.
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return strings.CutPrefix(orig.URL.Path, h.PathPrefix)
	}
	return "", false
}

// originalRequest is the request as the client sent it, before any
// rewrite.
func originalRequest(r *http.Request) *http.Request {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return &orig
	}
	return r
}

// pass prepares the request for the upstream: who the visitor is, and
// nothing of the gate's own cookies, which are the gate's secret.
func (h *Handler) pass(r *http.Request, jid string) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", jid)
	}
	deleteHeader(r.Header, h.UserHeader)
	r.Header.Set(h.UserHeader, jid)
	h.stripGateCookies(r.Header)
}

// challenge answers a request without a session: browsers get the login
// page, every other client the XEP-0070 challenge.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) error {
	// Whatever the client sent as the user header must not survive, even
	// on the way to an error handler.
	deleteHeader(r.Header, h.UserHeader)
	if wantsHTML(r) && !isUpgradeRequest(r) {
		// A form sent while logged out is not delivered: the page says so,
		// and the visitor comes back to the same URL to send it again.
		resend := r.Method != http.MethodGet && r.Method != http.MethodHead
		return h.renderPage(w, r, http.StatusUnauthorized, page{Kind: "login", Return: returnPath(r), Resend: resend})
	}
	if fromBrowserScript(r) {
		return h.scriptUnauthorized(w, r)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="xmpp"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, err := fmt.Fprintln(w, "401 Unauthorized: log in with your XMPP address")
	return err
}

// scriptUnauthorized answers a browser's script (fetch, XHR, a CORS
// preflight) that has no session: 401 without a Basic challenge, since a
// browser answers that challenge with its password dialog, and what the
// person types there would be sent to their XMPP account as the "code"
// (XEP-0070 v1.0.2 §6.4 warns of exactly this). The body says where to log
// in, for a script that wants to send the visitor there.
func (h *Handler) scriptUnauthorized(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	return json.NewEncoder(w).Encode(loginRequired{Error: "login required", Login: h.PathPrefix + "login"})
}

// loginRequired is scriptUnauthorized's JSON body.
type loginRequired struct {
	Error string `json:"error"`
	Login string `json:"login"` // the login page's path on this site
}

// fromBrowserScript tells a request a browser makes for a script, not a
// navigation: browsers send Sec-Fetch-Mode (cors, no-cors, same-origin,
// websocket) with every request, and Origin with cross-origin ones and
// with every non-GET. API clients send neither.
func fromBrowserScript(r *http.Request) bool {
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return true
	}
	return r.Header.Get("Origin") != ""
}

// forbidden answers a visitor who is logged in but may not use this site
// (the rules are checked on every request, so a change to them applies at
// once): who they are, and how to log out, never the login form again,
// which would only loop.
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, jid string) error {
	deleteHeader(r.Header, h.UserHeader)
	if wantsHTML(r) {
		return h.renderPage(w, r, http.StatusForbidden, page{Kind: "forbidden", JID: jid, Return: "/"})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_, err := fmt.Fprintf(w, "403 Forbidden: %s may not use this site\n", jid)
	return err
}

func (h *Handler) loginCookieName(r *http.Request) string {
	return hostOnlyPrefix(r) + h.CookieName + "_login"
}

// loginCookiePath is where the login cookie is sent: only to the gate's
// own pages, except on HTTPS, where its __Host- name needs Path=/.
func (h *Handler) loginCookiePath(r *http.Request) string {
	if r.TLS != nil {
		return "/"
	}
	return h.PathPrefix
}

// hostOnlyPrefix is "__Host-" on HTTPS: browsers accept a cookie of such a
// name only with Secure, Path=/ and no Domain, so a sibling site
// (evil.example.com beside wiki.example.com) cannot plant the pre-login
// and login cookies that tie a login to a browser, and so cannot log a
// visitor in as itself. Plain HTTP has no such protection to offer.
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
	// Only a host with a colon can have a port; SplitHostPort would
	// allocate an error for every other one.
	if strings.IndexByte(host, ':') >= 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
