package openid_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

// wikiClient is the trusted confidential client of these tests.
func wikiClient() openid.ClientConfig {
	return openid.ClientConfig{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"}, RefreshTokens: true, Trusted: true}
}

// tokensOf logs jid in at a with offline_access in browser b.
func tokensOf(t *testing.T, a *webtest.RelyingParty, b *webtest.Browser, jid string, params ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	code, verifier := a.Code(b, jid, params...)
	tok, err := a.OAuth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func refresh(a *webtest.RelyingParty, rt string) (*oauth2.Token, error) {
	return a.OAuth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
}

func TestARefreshTokenStopsWhenTheRulesNoLongerAdmitItsAccount(t *testing.T) {
	for name, change := range map[string]func(openid.Config, login.Config) (openid.Config, login.Config){
		"the login denies it": func(c openid.Config, g login.Config) (openid.Config, login.Config) {
			g.Deny = []string{"alice@example.org"}
			return c, g
		},
		"the client denies it": func(c openid.Config, g login.Config) (openid.Config, login.Config) {
			cl := wikiClient()
			cl.Deny = []string{"example.org"}
			c.Clients = []openid.ClientConfig{cl}
			return c, g
		},
		"the client is gone": func(c openid.Config, g login.Config) (openid.Config, login.Config) {
			cl := wikiClient()
			cl.ID = "other"
			c.Clients = []openid.ClientConfig{cl}
			return c, g
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := openid.Config{Clients: []openid.ClientConfig{wikiClient()}}
			rg := newRig(t, cfg, login.Config{})
			a := newApp(t, rg, "wiki", appSecret, "offline_access")
			tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
			if err := rg.reload(change(cfg, login.Config{})); err != nil {
				t.Fatal(err)
			}
			if _, err := refresh(a, tok.RefreshToken); err == nil {
				t.Error("a refresh token still works")
			}
		})
	}
}

func TestAChainOfRefreshTokensEndsTheirLifetimeAfterTheLogin(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}, RefreshTokenLifetime: 48 * time.Hour}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, "offline_access")
	rt := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org").RefreshToken
	for range 2 { // used every 20 hours, each token fresh
		rg.clock.add(20 * time.Hour)
		tok, err := refresh(a, rt)
		if err != nil {
			t.Fatal(err)
		}
		rt = tok.RefreshToken
	}
	rg.clock.add(9 * time.Hour) // 49 hours after the login
	if _, err := refresh(a, rt); err == nil {
		t.Error("a refresh token outlived the refresh token lifetime from the login")
	}
}

func TestAVisitorHoldsAtMost20RefreshTokensAtAClient(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, "offline_access")
	b := webtest.NewBrowser(t, rg.issuer)
	var rts []string
	for range 21 { // a session mints a code, and a refresh token, at each visit
		rts = append(rts, tokensOf(t, a, b, "alice@example.org").RefreshToken)
		rg.clock.add(time.Second)
	}
	if _, err := refresh(a, rts[0]); err == nil {
		t.Error("the oldest of 21 refresh tokens still works")
	}
	if _, err := refresh(a, rts[20]); err != nil {
		t.Errorf("the newest refresh token: %v", err)
	}
}

func TestTheCallbackTakesItsIDOnlyFromAGET(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	attacker := webtest.NewBrowser(t, rg.issuer)
	resp, _ := attacker.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	own := strings.TrimPrefix(resp.Header.Get("Location"), "/login?")
	// The attacker posts a victim's request id in the body of a callback
	// whose URL carries the attacker's own.
	resp, body := attacker.Do("POST", "/authorize/callback?"+own, url.Values{"id": {"someone-elses"}})
	if resp.StatusCode != http.StatusMethodNotAllowed || strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Errorf("a POST to the callback: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestTheBindingCookieOfAnHTTPSIssuerIsHostOnlyEvenWhenTLSEndsBeforeCaddy(t *testing.T) {
	rg := newRig(t, openid.Config{Issuer: "https://login.example.org", Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	q := url.Values{"client_id": {"wiki"}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier("v")}, "code_challenge_method": {"S256"}}
	resp, _ := webtest.NewBrowser(t, rg.issuer).Do("GET", "/authorize?"+q.Encode(), nil)
	var found bool
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "xmpp_auth_oidc") {
			found = true
			if c.Name != "__Host-xmpp_auth_oidc" || !c.Secure || !c.HttpOnly || c.Path != "/" {
				t.Errorf("binding cookie: %+v", c)
			}
		}
	}
	if !found {
		t.Fatalf("no binding cookie: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestALoginWhoseClientAReloadRemovedIsAPage(t *testing.T) {
	cfg := openid.Config{Clients: []openid.ClientConfig{wikiClient()}}
	rg := newRig(t, cfg, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	b := webtest.NewBrowser(t, rg.issuer)
	resp, _ := b.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	cl := wikiClient()
	cl.ID = "other"
	if err := rg.reload(openid.Config{Clients: []openid.ClientConfig{cl}}, login.Config{}); err != nil {
		t.Fatal(err)
	}
	resp, body := b.Do("GET", resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusBadRequest || !isInvalidPage(body, "unknown") {
		t.Errorf("the login of a removed client: %d\n%.300s", resp.StatusCode, body)
	}
}

func TestLogoutEndsTheAccessTokensToo(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, "offline_access")
	b := webtest.NewBrowser(t, rg.issuer)
	tok := tokensOf(t, a, b, "alice@example.org")
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://app.example/bye"}}
	if resp, _ := b.Do("GET", "/end_session?"+q.Encode(), nil); !strings.HasPrefix(resp.Header.Get("Location"), "https://app.example/bye") {
		t.Fatalf("end_session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the access token still works at userinfo after the logout")
	}
}

func TestALogoutWithAnotherPersonsIDTokenEndsNothingOfEither(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, "offline_access")
	victim := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "bob@example.org")
	attacker := webtest.NewBrowser(t, rg.issuer)
	mine := tokensOf(t, a, attacker, "alice@example.org")
	q := url.Values{"id_token_hint": {victim.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://app.example/bye"}}
	resp, _ := attacker.Do("GET", "/end_session?"+q.Encode(), nil)
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/.xmpp-auth/logout") {
		t.Errorf("a logout naming someone else: %d %q, want the gate's logout page", resp.StatusCode, loc)
	}
	if _, err := refresh(a, victim.RefreshToken); err != nil {
		t.Errorf("the victim's refresh token was ended: %v", err)
	}
	if back, _, _ := a.Login(attacker, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("prompt", "none")); back == nil || back.Query().Get("code") == "" {
		t.Error("the browser's own session was ended")
	}
	_ = mine
}

func TestAnIDTokenHintNamingSomeoneElseIsNotAnsweredWithTheSession(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	bob := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "bob@example.org")
	b := webtest.NewBrowser(t, rg.issuer)
	tokensOf(t, a, b, "alice@example.org")
	back, resp, body := a.Login(b, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("prompt", "none"),
		oauth2.SetAuthURLParam("id_token_hint", bob.Extra("id_token").(string)))
	if back == nil || back.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none with bob's hint in alice's browser: %d %v\n%.300s", resp.StatusCode, back, body)
	}
}

func TestARefusedAddressUnderPromptNoneIsAnErrorForTheApp(t *testing.T) {
	cl := wikiClient()
	cl.Deny = []string{"alice@example.org"}
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{cl}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v")) // refused, with a session
	back, resp, body := a.Login(b, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("prompt", "none"))
	if back == nil || back.Query().Get("error") != "access_denied" {
		t.Errorf("prompt=none for a refused address: %d %v\n%.300s", resp.StatusCode, back, body)
	}
}

func TestUsernameLocalpartNeedsEveryClientOnOneDomain(t *testing.T) {
	cl := wikiClient()
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{cl}}, login.Config{})
	for allow, ok := range map[string]bool{"": false, "example.org example.net": false, "alice@example.org bob@example.net": false,
		"example.org": true, "example.org alice@example.org": true} {
		cl.Allow = strings.Fields(allow)
		err := rg.reload(openid.Config{Clients: []openid.ClientConfig{cl}, Username: "localpart"}, login.Config{})
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "one domain")) {
			t.Errorf("allow %q: %v", allow, err)
		}
	}
}

func TestAnHTTPIssuerMustBeOnALoopbackAddress(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	for iss, ok := range map[string]bool{"http://127.evil.example": false, "http://localhost.evil.example": false,
		"http://127.0.0.1:9000": true, "http://[::1]:9000": true, "http://localhost:9000": true} {
		err := rg.reloadIssuer(iss)
		if (err == nil) != ok {
			t.Errorf("issuer %s: %v", iss, err)
		}
	}
}

func TestAClientConfiguredForES256GetsES256IDTokensAndOthersRS256(t *testing.T) {
	es := wikiClient()
	es.ID, es.IDTokenAlg = "es", "ES256"
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient(), es}}, login.Config{})
	b := webtest.NewBrowser(t, rg.issuer)
	for _, c := range []struct{ id, alg string }{{"wiki", "RS256"}, {"es", "ES256"}} {
		a := newApp(t, rg, c.id, appSecret, "offline_access")
		a.Verifier = a.Provider.Verifier(&oidc.Config{ClientID: c.id, SupportedSigningAlgs: []string{c.alg}})
		tok := tokensOf(t, a, b, "alice@example.org")
		refreshed, err := refresh(a, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range []*oauth2.Token{tok, refreshed} {
			if _, err := a.Verifier.Verify(context.Background(), tk.Extra("id_token").(string)); err != nil {
				t.Errorf("%s: an ID token does not verify as %s: %v", c.id, c.alg, err)
			}
		}
	}
	resp, body := b.Do("GET", "/.well-known/openid-configuration", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"id_token_signing_alg_values_supported":["RS256","ES256"]`) {
		t.Errorf("discovery: %s", body)
	}
}

func TestTheTokenEndpointSignsWithTheAlgorithmOfTheClientOpAuthenticates(t *testing.T) {
	es := wikiClient()
	es.ID, es.IDTokenAlg = "es", "ES256"
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient(), es}}, login.Config{})
	a := newApp(t, rg, "es", appSecret)
	code, verifier := a.Code(webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	// client_id twice: op takes the last, and so must the choice of key.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect},
		"code_verifier": {verifier}, "client_id": {"wiki", "es"}, "client_secret": {appSecret}}
	resp, err := http.PostForm(rg.issuer+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	if alg := algOf(t, tok.IDToken); alg != "ES256" {
		t.Errorf("the ID token of es is signed %s", alg)
	}
	huge := url.Values{"client_id": {strings.Repeat("x", 70<<10)}}
	resp2, err := http.PostForm(rg.issuer+"/oauth/token", huge)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadRequest {
		t.Errorf("a 70 KB form: %d", resp2.StatusCode)
	}
}

func TestAHintNamingSomeoneElseIsLoginRequiredWithoutPromptToo(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	bob := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "bob@example.org")
	b := webtest.NewBrowser(t, rg.issuer)
	tokensOf(t, a, b, "alice@example.org")
	back, resp, body := a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v"),
		oauth2.SetAuthURLParam("id_token_hint", bob.Extra("id_token").(string)))
	if back == nil || back.Query().Get("error") != "login_required" {
		t.Errorf("bob's hint in alice's browser: %d %v\n%.300s", resp.StatusCode, back, body)
	}
}

func TestALogoutNamingAnUnknownClientIsAClientError(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	resp, body := webtest.NewBrowser(t, rg.issuer).Do("GET", "/end_session?client_id=nobody&post_logout_redirect_uri=https://app.example/bye", nil)
	if resp.StatusCode/100 != 4 || resp.Header.Get("Location") != "" || !strings.Contains(body, "unknown client") {
		t.Errorf("end_session for an unknown client: %d %q\n%.300s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}
