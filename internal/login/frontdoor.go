package login

import (
	"net/http"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// What a front door other than the gate itself (the OpenID provider of
// package openid) uses of a gate: its sessions, its rules, its pages and
// its login, so that a login there is the same login, with the same pages,
// limits and cookies, as on any gated site.

// Visitor returns the visitor's valid, unrevoked session on this site,
// whether or not the gate's rules admit them (see Admits). With an idle
// timeout it refreshes the cookie when due, as a gated request does.
func (g *Gate) Visitor(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	return g.session(w, r)
}

// Admits reports whether the gate's allow and deny rules let jid in.
func (g *Gate) Admits(jid string) bool { return g.allowed.admits(jid) }

// ServeOwnPage serves r when it is for one of the gate's own pages (the
// login form, the waiting page, the status poll, logout) and reports
// whether it was.
func (g *Gate) ServeOwnPage(w http.ResponseWriter, r *http.Request) (bool, error) {
	name, ok := g.gatePage(r)
	if !ok {
		return false, nil
	}
	return true, g.serveGate(w, r, name)
}

// AskLogin answers r with the login page, whatever session the visitor
// already has: once the login is approved, the visitor has a new session
// and comes back to r's URL.
func (g *Gate) AskLogin(w http.ResponseWriter, r *http.Request) error {
	return g.renderPage(w, r, http.StatusOK, page{Kind: "login", Return: g.returnPath(r)})
}

// Refuse answers a visitor who is logged in as jid but may not go on: who
// they are and how to log out, never the login form, which would only
// loop.
func (g *Gate) Refuse(w http.ResponseWriter, r *http.Request, jid string) error {
	return g.forbidden(w, r, jid)
}

// EndSession logs the visitor out of this site, as the gate's logout does
// (the sessions the request carries are revoked, the cookies cleared),
// and leaves the answer to the caller.
func (g *Gate) EndSession(w http.ResponseWriter, r *http.Request) {
	g.endSession(w, r)
}

// Rules are allow and deny lists as a gate has them, for a front door
// that applies its own on top of the gate's (an OpenID client's).
type Rules struct{ a access }

// ParseRules reads allow and deny lists of bare JIDs and domains; Deny
// wins, and an empty Allow admits everyone.
func ParseRules(allow, deny []string) (Rules, error) {
	a, err := parseAccess(allow, deny)
	return Rules{a}, err
}

// Admits reports whether the rules let a normalised bare JID in.
func (r Rules) Admits(jid string) bool { return r.a.admits(jid) }

// ShowLoggedOut answers with the gate's page for a visitor who has logged
// out.
func (g *Gate) ShowLoggedOut(w http.ResponseWriter, r *http.Request) error {
	return g.renderPage(w, r, http.StatusOK, page{Kind: "loggedout", Return: "/"})
}

// Owns reports whether r is for one of the gate's own pages.
func (g *Gate) Owns(r *http.Request) bool {
	_, ok := g.gatePage(r)
	return ok
}

// AskConsent answers with the page that asks the visitor (logged in as
// jid) whether client may learn what claims say (keys of the page texts:
// claim_openid, claim_profile, claim_email, claim_offline_access). Its form
// posts consent=allow or consent=deny, with a token ConsentPosted checks,
// back to r's URL.
func (g *Gate) AskConsent(w http.ResponseWriter, r *http.Request, jid, client string, claims []string) error {
	return g.renderPage(w, r, http.StatusOK, page{Kind: "consent", JID: jid, Client: client, Claims: claims, Return: g.returnPath(r)})
}

// ConsentPosted reads the consent page's answer from a POST: whether it
// came from that page of this site (its Origin, and the token the page
// carried), and whether it allows.
func (g *Gate) ConsentPosted(r *http.Request) (valid, allow bool) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || !sameOrigin(r) ||
		!g.svc.csrf.valid(r, g.preCookieName(r), r.PostForm.Get("csrf")) {
		return false, false
	}
	return true, r.PostForm.Get("consent") == "allow"
}

// ShowInvalid answers 400 with the page for a login request that cannot go
// on (an unknown application, a redirect URI it did not register, a link
// from another browser), detail saying why, as it is, for whoever runs the
// application.
func (g *Gate) ShowInvalid(w http.ResponseWriter, r *http.Request, detail string) error {
	return g.renderPage(w, r, http.StatusBadRequest, page{Kind: "invalid", Error: detail, Return: "/"})
}

// Network is a network a request comes from, as the login's limits count
// it: Key names it, and Scale says how many of the narrowest its limit is
// worth (an IPv6 /56 counts 4 /64s, a /48 16).
type Network struct {
	Key   string
	Scale int
}

// ClientNetworks are the networks a request comes from, narrowest first:
// the client's IPv4 address; or its IPv6 /64, /56 and /48 (the client IP
// honours the server's trusted proxies).
func (g *Gate) ClientNetworks(r *http.Request) []Network {
	var out []Network
	for _, n := range networks(g.env.ClientIP(r)) {
		out = append(out, Network{Key: n.key, Scale: n.scale})
	}
	return out
}

// LogoutPath is the gate's logout page, which asks a visitor who came from
// another site before it logs them out.
func (g *Gate) LogoutPath() string { return g.cfg.PathPrefix + "logout" }
