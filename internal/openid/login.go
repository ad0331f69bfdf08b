package openid

import (
	"context"
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// The login of an authorization request. op sends the visitor to
// loginPath with the request's id; a visitor whose session on this host
// is fresh enough for the request is done at once, any other logs in with
// the gate's pages and comes back here. Then op's callback makes the code.
//
// The request id travels in the visitor's URL, so it must not be all it
// takes: whoever started a request could otherwise send its login link to
// someone logged in, and redeem the code their login made (a login CSRF
// that ends as account takeover). So the browser that asked is bound to the
// request by a cookie, checked here and at the callback.

// browserKey carries what CreateAuthRequest keeps of the browser of an
// authorize request: a browser value.
type browserKey struct{}

// browser is the visitor's browser when an authorization request starts:
// its binding, and the session it has, if any.
type browser struct {
	binding  string
	prior    [16]byte
	networks []login.Network
}

// bindingCookie is the name of the browser binding cookie: on an https
// issuer __Host-, which only this host can set, even when TLS ends at a
// proxy in front of Caddy.
func (p *Provider) bindingCookie() string {
	if p.secure {
		return "__Host-xmpp_auth_oidc"
	}
	return "xmpp_auth_oidc"
}

// bindBrowser gives r's browser a binding, kept if it has one, and puts it
// in r's context for CreateAuthRequest with the visitor's session.
func (p *Provider) bindBrowser(w http.ResponseWriter, r *http.Request) *http.Request {
	value := ""
	if c, err := r.Cookie(p.bindingCookie()); err == nil && len(c.Value) == len(newID()) {
		value = c.Value
	} else {
		value = newID()
	}
	// Refreshed on each request: it lives as long as a request it binds.
	http.SetCookie(w, &http.Cookie{Name: p.bindingCookie(), Value: value, Path: "/", MaxAge: int(requestLifetime.Seconds()),
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	b := browser{binding: value, networks: p.gate.ClientNetworks(r)}
	if s, ok := p.gate.Visitor(w, r); ok {
		b.prior = s.ID
	}
	return r.WithContext(context.WithValue(r.Context(), browserKey{}, b))
}

// sameBrowser reports whether r comes from the browser that started a.
func (p *Provider) sameBrowser(r *http.Request, a *authRequest) bool {
	c, err := r.Cookie(p.bindingCookie())
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.browser)) == 1
}

// serveLogin is the login of an authorization request.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("id")
	a, err := (opStorage{p}).request(id)
	if err != nil || !p.sameBrowser(r, a) {
		return p.gate.ShowInvalid(w, r, errUnknownLogin)
	}
	cl := p.clients[a.GetClientID()]
	if cl == nil { // gone with a config reload
		return p.gate.ShowInvalid(w, r, errUnknownLogin)
	}
	p.store.visit(id)
	s, ok := p.gate.Visitor(w, r)
	// An application that names who should log in (id_token_hint) gets
	// them or nobody: a visitor logged in as someone else is not asked to
	// log in again (they would only come back as themselves).
	if ok && a.hint != "" && p.claims.subject(s.JID) != a.hint {
		p.fail(w, r, a, oidc.ErrLoginRequired().WithDescription("the visitor is logged in as another account than id_token_hint names"))
		return nil
	}
	if ok && a.freshEnough(s, p.now()) {
		subject := p.claims.subject(s.JID)
		// op's opaque access tokens are "id:subject": a subject with a
		// colon (a bare JID at an IPv6 literal) cannot have one.
		if !p.gate.Admits(s.JID) || !cl.rules.Admits(s.JID) || strings.Contains(subject, ":") {
			p.log.Info("refused an OpenID login", zap.String("jid", s.JID), zap.String("client", cl.ID))
			if a.prompts(oidc.PromptNone) {
				p.fail(w, r, a, oidc.ErrAccessDenied().WithDescription("this account may not use this client"))
				return nil
			}
			return p.gate.Refuse(w, r, s.JID)
		}
		if !cl.Trusted {
			if done, err := p.consent(w, r, a, cl, s.JID); done {
				return err
			}
		}
		if !p.store.markDone(id, s.JID, subject, s.Authenticated) {
			return p.gate.ShowInvalid(w, r, errUnknownLogin)
		}
		p.log.Info("OpenID login", zap.String("jid", s.JID), zap.String("client", cl.ID))
		p.toCallback(w, r, id, cl.Name)
		return nil
	}
	if a.prompts(oidc.PromptNone) {
		p.fail(w, r, a, oidc.ErrLoginRequired())
		return nil
	}
	return p.gate.AskLogin(w, r)
}

// toCallback sends the visitor on to op's callback, which redirects them
// to the application with the code. From one of this site's own pages
// (the waiting page's button, the consent form), a redirect would end on
// another origin as the answer to a form, which browsers refuse by the
// page's form-action; so the visitor gets a page that moves on by itself
// (a new navigation, not the form's). From anywhere else, a redirect.
func (p *Provider) toCallback(w http.ResponseWriter, r *http.Request, id, client string) {
	to := p.cfg.Issuer + callbackPath + "?id=" + url.QueryEscape(id)
	if r.Header.Get("Sec-Fetch-Site") != "same-origin" {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
	_ = onwardPage.Execute(w, struct{ To, Client string }{to, client})
}

// onwardPage moves the visitor on to To, with a link for a browser that
// does not follow the refresh.
var onwardPage = template.Must(template.New("onward").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.To}}"><meta name="robots" content="noindex">
<title>{{.Client}}</title></head>
<body><p><a href="{{.To}}">{{.Client}} →</a></p></body></html>
`))
