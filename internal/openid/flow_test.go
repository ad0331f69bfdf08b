package openid_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

const (
	appRedirect = "https://app.example/callback"
	appSecret   = "0123456789abcdef0123456789abcdef"
)

// app is a relying party nobody here wrote: go-oidc and x/oauth2, as a Go
// web application uses them.
type app struct {
	t        *testing.T
	rg       *rig
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// consent is what the visitor answers on a consent page: "allow",
	// "deny", or "" to stop there.
	consent string
}

func newApp(t *testing.T, rg *rig, clientID, secret string, scopes ...string) *app {
	t.Helper()
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, rg.provider.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &app{t: t, rg: rg, provider: prov,
		oauth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: prov.Endpoint(), RedirectURL: appRedirect,
			Scopes: append([]string{oidc.ScopeOpenID}, scopes...)},
		verifier: prov.Verifier(&oidc.Config{ClientID: clientID})}
}

// login is what a visitor does from the application's login button to the
// code: the authorize request, the gate's login if needed, the callback.
// It returns the redirect to the application, or the last answer when
// there is none.
func (a *app) login(b *webtest.Browser, jid string, params ...oauth2.AuthCodeOption) (*url.URL, *http.Response, string) {
	a.t.Helper()
	resp, body := b.Do("GET", relative(a.t, a.oauth.AuthCodeURL("state-123", params...)), nil)
	for range 6 {
		loc := resp.Header.Get("Location")
		switch {
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="jid"`) && jid != "":
			ret := relative(a.t, b.Base+resp.Request.URL.RequestURI())
			if resp, body = b.Submit(jid, ret); resp.StatusCode != http.StatusOK {
				a.t.Fatalf("the login form: %d\n%s", resp.StatusCode, body)
			}
			resp, body = b.Outcome()
			to := webtest.ApprovedTo(resp, body, "xmpp_auth")
			if to == "" {
				a.t.Fatalf("the login was not approved: %d %s", resp.StatusCode, body)
			}
			resp, body = b.Do("GET", to, nil)
			jid = ""
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="consent"`) && a.consent != "":
			m := csrfField.FindStringSubmatch(body)
			if m == nil {
				a.t.Fatalf("the consent page has no token:\n%s", body)
			}
			resp, body = b.Do("POST", resp.Request.URL.RequestURI(), url.Values{"csrf": {m[1]}, "consent": {a.consent}})
		case loc != "" && strings.HasPrefix(loc, appRedirect):
			u, _ := url.Parse(loc)
			return u, resp, body
		case loc != "":
			resp, body = b.Do("GET", relative(a.t, loc), nil)
		default:
			return nil, resp, body
		}
	}
	a.t.Fatal("too many steps")
	return nil, nil, ""
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// relative is u's path and query on the provider's host.
func relative(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.RequestURI()
}

func TestAConfidentialAppLogsInWithPKCEAndGetsTheVisitorsClaims(t *testing.T) {
	rg := newRig(t, openid.Config{
		Clients:      []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, RefreshTokens: true, Trusted: true}},
		EmailDomains: []string{"example.org"},
	}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, oidc.ScopeOfflineAccess, "profile", "email")
	b := webtest.NewBrowser(t, rg.issuer)
	verifier := oauth2.GenerateVerifier()
	back, resp, body := a.login(b, "alice@example.org", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-456"))
	if back == nil {
		t.Fatalf("no redirect to the app: %d\n%s", resp.StatusCode, body)
	}
	if back.Query().Get("state") != "state-123" || back.Query().Get("code") == "" {
		t.Fatalf("the redirect to the app: %s", back)
	}
	ctx := context.Background()
	tok, err := a.oauth.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	var claims struct {
		Sub               string `json:"sub"`
		Nonce             string `json:"nonce"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		EmailVerified     *bool  `json:"email_verified"`
	}
	mustClaims(t, idt, &claims)
	if claims.Nonce != "nonce-456" || len(claims.Sub) != 43 || claims.PreferredUsername != "alice@example.org" ||
		claims.Email != "alice@example.org" || claims.EmailVerified == nil || *claims.EmailVerified {
		t.Errorf("ID token claims: %+v", claims)
	}
	ui, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != claims.Sub || ui.Email != "alice@example.org" {
		t.Fatalf("userinfo: %+v %v", ui, err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	tok.Expiry = tok.Expiry.Add(-24 * time.Hour) // due for a refresh
	fresh, err := a.oauth.TokenSource(ctx, tok).Token()
	if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v (a new refresh token each time: %v)", err, fresh != nil && fresh.RefreshToken != tok.RefreshToken)
	}
	if _, err := a.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("a refresh token was accepted a second time")
	}
}

func mustClaims(t *testing.T, idt *oidc.IDToken, v any) {
	t.Helper()
	if err := idt.Claims(v); err != nil {
		t.Fatal(err)
	}
}
