package webtest

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RelyingParty is an application that logs its visitors in with OpenID
// Connect, written with what nobody here wrote: go-oidc and x/oauth2, as
// a Go web application uses them.
type RelyingParty struct {
	T        testing.TB
	Provider *oidc.Provider
	OAuth    oauth2.Config
	Verifier *oidc.IDTokenVerifier
	// Consent is what the visitor answers on a consent page: "allow",
	// "deny", or "" to stop there.
	Consent string
}

// NewRelyingParty discovers the provider at issuer and makes a relying
// party with the client's id, secret and redirect URI, asking for openid
// and scopes.
func NewRelyingParty(t testing.TB, issuer, clientID, secret, redirect string, scopes ...string) *RelyingParty {
	t.Helper()
	prov, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery of %s: %v", issuer, err)
	}
	return &RelyingParty{T: t, Provider: prov,
		OAuth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: prov.Endpoint(), RedirectURL: redirect,
			Scopes: append([]string{oidc.ScopeOpenID}, scopes...)},
		Verifier: prov.Verifier(&oidc.Config{ClientID: clientID})}
}

// State is the state every login of a RelyingParty carries.
const State = "state-123"

var csrfOnConsent = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Login is what a visitor does in b from the application's login button
// to the code (see FollowLogin), with params added to the authorize
// request.
func (a *RelyingParty) Login(b *Browser, jid string, params ...oauth2.AuthCodeOption) (*url.URL, *http.Response, string) {
	a.T.Helper()
	return FollowLogin(b, a.OAuth.AuthCodeURL(State, params...), jid, a.OAuth.RedirectURL, a.Consent)
}

// FollowLogin is what a visitor does in b from an authorize URL to the
// code: the authorize request, the gate's login as jid if the provider
// shows it ("" to stop there), the consent page if consent says what to
// answer ("allow" or "deny"), the callback. It returns the redirect to the
// application (a URL under redirect), or nil and the last answer when
// there is none.
func FollowLogin(b *Browser, authorize, jid, redirect, consent string) (*url.URL, *http.Response, string) {
	t := b.T
	t.Helper()
	resp, body := b.Do("GET", Relative(t, authorize), nil)
	for range 8 {
		loc := resp.Header.Get("Location")
		switch {
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="jid"`) && jid != "":
			if resp, body = b.Submit(jid, resp.Request.URL.RequestURI()); resp.StatusCode != http.StatusOK {
				t.Fatalf("the login form: %d\n%s", resp.StatusCode, body)
			}
			resp, body = b.Outcome()
			to := ApprovedTo(resp, body, "xmpp_auth")
			if to == "" {
				t.Fatalf("the login was not approved: %d %s", resp.StatusCode, body)
			}
			resp, body = b.Do("GET", to, nil)
			jid = ""
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="consent"`) && consent != "":
			m := csrfOnConsent.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("the consent page has no token:\n%s", body)
			}
			resp, body = b.Do("POST", resp.Request.URL.RequestURI(), url.Values{"csrf": {m[1]}, "consent": {consent}})
			consent = ""
		case loc != "" && strings.HasPrefix(loc, redirect):
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			return u, resp, body
		case loc != "":
			resp, body = b.Do("GET", Relative(t, loc), nil)
		default:
			return nil, resp, body
		}
	}
	t.Fatal("the login took too many steps")
	return nil, nil, ""
}

// Code logs jid in through a with PKCE and returns the code and its
// verifier.
func (a *RelyingParty) Code(b *Browser, jid string, params ...oauth2.AuthCodeOption) (string, string) {
	a.T.Helper()
	verifier := oauth2.GenerateVerifier()
	back, resp, body := a.Login(b, jid, append(params, oauth2.S256ChallengeOption(verifier))...)
	if back == nil || back.Query().Get("code") == "" {
		a.T.Fatalf("no code: %d %s\n%s", resp.StatusCode, back, body)
	}
	return back.Query().Get("code"), verifier
}

// Relative is u's path and query, to be asked of the same host.
func Relative(t testing.TB, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.RequestURI()
}
