package openid_test

import (
	"context"
	"encoding/json"
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

func TestALogoutLinkWithoutAHintLogsNobodyOut(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Code(b, "alice@example.org")
	resp, _ := b.Do("GET", "/end_session", nil) // what a cross-site link can make a browser do
	t.Logf("bare end_session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	back, _, _ := a.Login(b, "", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption("v"))
	if back != nil && back.Query().Get("error") == "login_required" {
		t.Errorf("FINDING: a bare GET /end_session (no id_token_hint, no confirmation) ended the session")
	}
}

func TestAnExpiredAccessTokenGetsNoUserinfo(t *testing.T) {
	rg, a := newWikiRig(t)
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	rg.clock.add(10*time.Minute + time.Second)
	if _, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo accepted an expired access token")
	}
}

func revoke(t *testing.T, rg *rig, id, secret, token string) int {
	req, _ := http.NewRequest("POST", rg.issuer+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestARevokedTokenStopsAndOnlyItsClientCanRevokeIt(t *testing.T) {
	rg, a := newWikiRig(t,
		openid.ClientConfig{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, RefreshTokens: true, Trusted: true},
		openid.ClientConfig{ID: "other", Secret: appSecret, RedirectURIs: []string{appRedirect}, RefreshTokens: true, Trusted: true})
	a.OAuth.Scopes = append(a.OAuth.Scopes, "offline_access")
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	// another client cannot revoke wiki's tokens
	revoke(t, rg, "other", appSecret, tok.RefreshToken)
	revoke(t, rg, "other", appSecret, tok.AccessToken)
	if _, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
		t.Errorf("another client revoked the access token: %v", err)
	}
	fresh, err := refresh(a, tok.RefreshToken)
	if err != nil {
		t.Fatalf("another client revoked the refresh token: %v", err)
	}
	if c := revoke(t, rg, "wiki", appSecret, fresh.AccessToken); c != 200 {
		t.Errorf("revoke: %d", c)
	}
	if _, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(fresh)); err == nil {
		t.Error("a revoked access token still works at userinfo")
	}
	revoke(t, rg, "wiki", appSecret, fresh.RefreshToken)
	if _, err := refresh(a, fresh.RefreshToken); err == nil {
		t.Error("a revoked refresh token still works")
	}
}

func TestARefreshTokenLivesItsLifetimeUnused(t *testing.T) {
	rg, a := newWikiRig(t)
	a.OAuth.Scopes = append(a.OAuth.Scopes, "offline_access")
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	rg.clock.add(719 * time.Hour)
	fresh, err := refresh(a, tok.RefreshToken)
	if err != nil {
		t.Fatalf("a refresh token died before 720h: %v", err)
	}
	rg.clock.add(720*time.Hour + time.Second)
	if _, err := refresh(a, fresh.RefreshToken); err == nil {
		t.Error("a refresh token worked after 720h")
	}
}

func TestTheNextKeyIsPublishedBeforeItSigns(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	kid := func() string {
		return kidOf(t, tokensOf(t, a, b, "alice@example.org").Extra("id_token").(string))
	}
	k0 := kid()
	rg.clock.add(700 * time.Hour) // past rotation - ahead (696h), before 720h
	if k := kid(); k != k0 {
		t.Errorf("the successor signs before its start")
	}
	resp, err := http.Get(rg.issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(set.Keys) != 4 {
		t.Errorf("key set at 700h has %d keys, want 4 (of each algorithm, the successor published ahead)", len(set.Keys))
	}
	for _, k := range set.Keys {
		if _, ok := k["d"]; ok {
			t.Error("private key published")
		}
	}
}

func TestConsentIsPerVisitorAndPerClient(t *testing.T) {
	rg, _ := newRig(t, openid.Config{Clients: []openid.ClientConfig{
		{ID: "wiki", Name: "The Wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}},
		{ID: "blog", Name: "The Blog", Secret: appSecret, RedirectURIs: []string{appRedirect}},
	}}, login.Config{}), 0
	wiki, blog := newApp(t, rg, "wiki", appSecret), newApp(t, rg, "blog", appSecret)
	alice := webtest.NewBrowser(t, rg.issuer)
	wiki.Consent = "allow"
	wiki.Code(alice, "alice@example.org")
	wiki.Consent = ""
	if back, _, body := blog.Login(alice, "", oauth2.S256ChallengeOption("v")); back != nil || !strings.Contains(body, `name="consent"`) {
		t.Error("consent to wiki counted for blog")
	}
	if back, _, body := wiki.Login(webtest.NewBrowser(t, rg.issuer), "bob@example.org", oauth2.S256ChallengeOption("v")); back != nil || !strings.Contains(body, `name="consent"`) {
		t.Error("alice's consent counted for bob")
	}
}

func TestEmailOnlyForListedDomains(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, Trusted: true}},
		EmailDomains: []string{"Example.ORG."}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, "email")
	for jid, want := range map[string]string{"alice@example.org": "alice@example.org", "bob@other.example": ""} {
		tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), jid)
		idt, err := a.Verifier.Verify(context.Background(), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		mustClaims(t, idt, &c)
		if got, _ := c["email"].(string); got != want {
			t.Errorf("%s: email %q, want %q", jid, got, want)
		}
		if _, ok := c["preferred_username"]; ok {
			t.Errorf("%s: preferred_username without the profile scope: %v", jid, c)
		}
	}
	rg = newRig(t, openid.Config{Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, Trusted: true,
		Allow: []string{"example.org"}}}, Username: "localpart"}, login.Config{})
	p := newApp(t, rg, "wiki", appSecret, "profile")
	tok := tokensOf(t, p, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	idt, _ := p.Verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	var c struct {
		PU   string `json:"preferred_username"`
		Name string `json:"name"`
	}
	mustClaims(t, idt, &c)
	if c.PU != "alice" || c.Name != "alice" {
		t.Errorf("username localpart: %+v", c)
	}
}

func TestSweepKeepsLiveTokens(t *testing.T) {
	rg, a := newWikiRig(t)
	a.OAuth.Scopes = append(a.OAuth.Scopes, "offline_access")
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	rg.clock.add(2 * time.Minute)
	webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil) // sweeps
	if _, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
		t.Errorf("a live access token was swept: %v", err)
	}
	if _, err := refresh(a, tok.RefreshToken); err != nil {
		t.Errorf("a live refresh token was swept: %v", err)
	}
}

func TestEndSessionErrorKeepsSession(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	tok := tokensOf(t, a, b, "alice@example.org")
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://evil.example/"}}
	resp, _ := b.Do("GET", "/end_session?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("end_session to an unregistered URI: %d", resp.StatusCode)
	}
	if back, _, _ := a.Login(b, "", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption("v")); back == nil || back.Query().Get("code") == "" {
		t.Error("a refused logout ended the session")
	}
}

func TestLogoutEndsRefreshTokens(t *testing.T) {
	rg, a := newWikiRig(t)
	a.OAuth.Scopes = append(a.OAuth.Scopes, "offline_access")
	b := webtest.NewBrowser(t, rg.issuer)
	tok := tokensOf(t, a, b, "alice@example.org")
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://app.example/bye"}}
	b.Do("GET", "/end_session?"+q.Encode(), nil)
	if _, err := refresh(a, tok.RefreshToken); err == nil {
		t.Error("a refresh token survived the logout")
	}
}

var formTag = regexp.MustCompile(`<form method="([a-z]+)" action="([^"]*)">\s*<input type="hidden" name="csrf" value="([^"]+)">\s*<button type="submit" name="consent" value="allow">`)

func TestConsentFormAsABrowserSendsIt(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	verifier := oauth2.S256ChallengeOption("v")
	_, _, body := a.Login(b, "alice@example.org", verifier)
	if !strings.Contains(body, "<li>an identifier that stays the same") {
		t.Errorf("the consent page does not list what the app learns:\n%s", body)
	}
	m := formTag.FindStringSubmatch(body)
	if m == nil || m[1] != "post" {
		t.Fatalf("no post form:\n%s", body)
	}
	resp, _ := b.Do("POST", strings.ReplaceAll(m[2], "&amp;", "&"), url.Values{"csrf": {m[3]}, "consent": {"allow"}})
	if !strings.Contains(resp.Header.Get("Location"), "/authorize/callback") {
		t.Errorf("posting the consent form as a browser does: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAnAuthorizationRequestExpires(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Code(b, "alice@example.org")
	resp, _ := b.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	link := resp.Header.Get("Location")
	rg.clock.add(15*time.Minute + time.Second)
	if resp, _ := b.Do("GET", webtest.Relative(t, rg.issuer+link), nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a 15-minute-old request was served: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestCodeDiesAtExactlyAMinute(t *testing.T) {
	rg, a := newWikiRig(t)
	code, verifier := a.Code(webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	rg.clock.add(time.Minute)
	if _, err := a.OAuth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code worked at exactly a minute")
	}
}

func TestMaxAgeCountsWholeSeconds(t *testing.T) {
	rg, a := newWikiRig(t)
	rg.clock.set(time.Unix(time.Now().Unix(), 0))
	b := webtest.NewBrowser(t, rg.issuer)
	a.Code(b, "alice@example.org")
	for _, tc := range []struct {
		after time.Duration
		asks  bool
	}{{60 * time.Second, false}, {time.Second, true}} {
		rg.clock.add(tc.after)
		before := rg.asker.asked.Load()
		a.Code(b, "alice@example.org", oauth2.SetAuthURLParam("max_age", "60"))
		if got := rg.asker.asked.Load() > before; got != tc.asks {
			t.Errorf("max_age=60 after +%v: asked %v, want %v", tc.after, got, tc.asks)
		}
		if tc.asks {
			break
		}
	}
}

func TestTwoLoginsInOneBrowser(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	start := func() string {
		resp, _ := b.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
		return resp.Header.Get("Location")
	}
	first := start()
	start()
	if resp, _ := b.Do("GET", webtest.Relative(t, rg.issuer+first), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the first of two logins in one browser: %d", resp.StatusCode)
	}
}

func TestAuthTimeKeptOnReuse(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Code(b, "alice@example.org")
	t0 := rg.clock.now()
	rg.clock.add(10 * time.Minute)
	tok := tokensOf(t, a, b, "")
	idt, _ := a.Verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	var c struct {
		AuthTime int64    `json:"auth_time"`
		AMR      []string `json:"amr"`
	}
	mustClaims(t, idt, &c)
	if c.AuthTime != t0.Unix() || len(c.AMR) != 1 || c.AMR[0] != "user" {
		t.Errorf("auth_time %d (login at %d), amr %v", c.AuthTime, t0.Unix(), c.AMR)
	}
}

func TestNoRefreshTokenWithoutTheOption(t *testing.T) {
	rg, a := newWikiRig(t, openid.ClientConfig{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, Trusted: true})
	a.OAuth.Scopes = append(a.OAuth.Scopes, oidc.ScopeOfflineAccess)
	if tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org"); tok.RefreshToken != "" {
		t.Error("a refresh token for a client without refresh_tokens")
	}
}

func TestTheImplicitFlowIsRefused(t *testing.T) {
	rg, a := newWikiRig(t)
	u := a.OAuth.AuthCodeURL("s", oauth2.SetAuthURLParam("response_type", "id_token"), oauth2.SetAuthURLParam("nonce", "n"))
	resp, _ := webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, u), nil)
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=unsupported_response_type") && !strings.Contains(loc, "error=") {
		t.Errorf("response_type=id_token: %d %q", resp.StatusCode, loc)
	}
}

func TestABrokenConfigIsRefusedWithItsReason(t *testing.T) {
	ok := openid.ClientConfig{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}}
	for name, cfg := range map[string]openid.Config{
		"query":          {Issuer: "https://a.example?x=1", Clients: []openid.ClientConfig{ok}},
		"fragment":       {Issuer: "https://a.example#x", Clients: []openid.ClientConfig{ok}},
		"userinfo":       {Issuer: "https://u:p@a.example", Clients: []openid.ClientConfig{ok}},
		"http 127x":      {Issuer: "http://127example.org", Clients: []openid.ClientConfig{ok}},
		"escaped path":   {Issuer: "https://a.example/a%20b", Clients: []openid.ClientConfig{ok}},
		"short lifetime": {Issuer: "https://a.example", Clients: []openid.ClientConfig{ok}, AccessTokenLifetime: 30 * time.Second},
		"dup client":     {Issuer: "https://a.example", Clients: []openid.ClientConfig{ok, ok}},
		"colon id":       {Issuer: "https://a.example", Clients: []openid.ClientConfig{{ID: "a:b", RedirectURIs: []string{appRedirect}}}},
		"relative uri":   {Issuer: "https://a.example", Clients: []openid.ClientConfig{{ID: "a", RedirectURIs: []string{"/cb"}}}},
		"fragment uri":   {Issuer: "https://a.example", Clients: []openid.ClientConfig{{ID: "a", RedirectURIs: []string{"https://a.example/cb#x"}}}},
		"15-char secret": {Issuer: "https://a.example", Clients: []openid.ClientConfig{{ID: "a", Secret: "123456789012345", RedirectURIs: []string{appRedirect}}}},
		"username":       {Issuer: "https://a.example", Clients: []openid.ClientConfig{ok}, Username: "email"},
	} {
		if _, err := openid.New(context.Background(), cfg, nil, openid.NewStore(), newMemStorage(), nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoginPageReturnsToTheRequest(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	_, resp, body := a.Login(b, "", oauth2.S256ChallengeOption("v"))
	m := regexp.MustCompile(`name="return" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil || strings.ReplaceAll(m[1], "&amp;", "&") != resp.Request.URL.RequestURI() {
		t.Errorf("the login form returns to %v, not %s", m, resp.Request.URL.RequestURI())
	}
}
