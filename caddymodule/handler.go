package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/xepauth/caddy-xepauth/internal/login"
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
	// Default: the request's host. (Logins are asked only for hosts a host
	// matcher of the server names, whatever this says: the message also
	// carries the URL, on the request's host.)
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

	gate *login.Gate
}

// CaddyModule returns the Caddy module information.
func (*Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xmpp_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision makes the gate from the config: the session keys (or the one
// kept in storage), the languages, pages and rules; it never dials.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := theApp(ctx, "xmpp_auth handler")
	if err != nil {
		return err
	}
	h.gate, err = h.newGate(ctx, app)
	if err != nil {
		return fmt.Errorf("xmpp_auth handler: %w", err)
	}
	return nil
}

// newGate makes the gate of h's options: the gated site's, or the login
// of an OpenID provider (oidc.go).
func (h *Handler) newGate(ctx caddy.Context, app *App) (*login.Gate, error) {
	repl := caddy.NewReplacer()
	keys := make([]string, len(h.SessionKeys))
	for i, k := range h.SessionKeys {
		if keys[i] = repl.ReplaceKnown(k, ""); keys[i] == "" {
			return nil, fmt.Errorf("session key %q is empty once resolved (is the variable set?); "+
				"remove the option to use a key kept in Caddy's storage", k)
		}
	}
	ring, err := login.LoadRing(ctx, ctx.Storage(), keys)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	gate, err := login.NewGate(app.shared.svc, login.Config{
		Allow:           h.Allow,
		Deny:            h.Deny,
		SessionLifetime: time.Duration(h.SessionLifetime),
		LoginTimeout:    time.Duration(h.LoginTimeout),
		IdleTimeout:     time.Duration(h.IdleTimeout),
		UserHeader:      h.UserHeader,
		CookieName:      h.CookieName,
		CookieDomain:    h.CookieDomain,
		CookiePath:      h.CookiePath,
		CookieSameSite:  h.CookieSameSite,
		PathPrefix:      h.PathPrefix,
		SiteName:        h.SiteName,
		Language:        h.Language,
		Messages:        repl.ReplaceKnown(h.Messages, ""),
		Templates:       repl.ReplaceKnown(h.Templates, ""),
		PassPreflight:   h.PassPreflight,
		Ring:            ring,
	}, newEnv(ctx, app.metrics))
	if err != nil {
		return nil, err
	}
	app.gateLifetime(gate.SessionLifetime())
	return gate, nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler: the gate decides, and
// an answer for a client that does not read HTML becomes a
// caddyhttp.Error, which a site's handle_errors can restyle.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return asCaddyError(h.gate.ServeHTTP(w, r, next))
}

// asCaddyError turns the login's status errors into Caddy's.
func asCaddyError(err error) error {
	var se *login.StatusError
	if errors.As(err, &se) {
		return caddyhttp.Error(se.Status, se.Err)
	}
	return err
}

// theApp is the config's xmpp_auth app, which a handler needs; who names
// the handler in the error when there is none.
func theApp(ctx caddy.Context, who string) (*App, error) {
	appIface, err := ctx.AppIfConfigured("xmpp_auth")
	if err != nil {
		if errors.Is(err, caddy.ErrNotConfigured) {
			return nil, errors.New(who + ": no XMPP component configured; add the global option " +
				"xmpp_auth { server 127.0.0.1:5347; domain auth.example.org; secret {env.XMPP_COMPONENT_SECRET} } " +
				"(JSON: apps.xmpp_auth)")
		}
		return nil, fmt.Errorf("%s: load the xmpp_auth app: %w", who, err)
	}
	return appIface.(*App), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
