package openid_test

import (
	"context"
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

// The negative cases of the OpenID conformance suite's Basic OP plan that
// apply to a code-flow provider with static clients, and the attacks on
// what op leaves to this package.

func newWikiRig(t *testing.T, clients ...openid.ClientConfig) (*rig, *webtest.RelyingParty) {
	t.Helper()
	if clients == nil {
		clients = []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect},
			PostLogoutRedirectURIs: []string{"https://app.example/bye"}, RefreshTokens: true, Trusted: true}}
	}
	rg := newRig(t, openid.Config{Clients: clients}, login.Config{})
	return rg, newApp(t, rg, clients[0].ID, clients[0].Secret)
}

func TestARedirectURIThatDiffersIsAPageNotARedirect(t *testing.T) {
	rg, a := newWikiRig(t)
	for _, uri := range []string{appRedirect + "/", appRedirect + "?x=1", "https://APP.example/callback", "https://evil.example/callback"} {
		a.OAuth.RedirectURL = uri
		resp, body := webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !isInvalidPage(body, "redirect_uri") {
			t.Errorf("redirect_uri %s: %d, Location %q\n%s", uri, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	if n := rg.asker.asked.Load(); n != 0 {
		t.Errorf("%d XMPP asks were sent", n)
	}
}

func TestAnUnknownClientIsAPage(t *testing.T) {
	rg, a := newWikiRig(t)
	a.OAuth.ClientID = "nobody"
	resp, body := webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s")), nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !isInvalidPage(body, "client") {
		t.Errorf("an unknown client: %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestACodeWorksOnceAndNotAfterAMinute(t *testing.T) {
	rg, a := newWikiRig(t)
	ctx := context.Background()
	b := webtest.NewBrowser(t, rg.issuer)
	code, verifier := a.Code(b, "alice@example.org")
	if _, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code was redeemed twice")
	}
	code, verifier = a.Code(b, "alice@example.org")
	rg.clock.add(61 * time.Second)
	if _, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code was redeemed after a minute")
	}
}

func TestAWrongSecretOrVerifierGetsNoTokensAndBurnsTheCode(t *testing.T) {
	rg, a := newWikiRig(t)
	ctx := context.Background()
	b := webtest.NewBrowser(t, rg.issuer)

	code, verifier := a.Code(b, "alice@example.org")
	wrong := a.OAuth
	wrong.ClientSecret = appSecret + "x"
	if _, err := wrong.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a wrong client secret got tokens")
	}
	if _, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code survived a redemption with a wrong secret")
	}

	code, _ = a.Code(b, "alice@example.org")
	if _, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("a wrong code verifier got tokens")
	}
	code, _ = a.Code(b, "alice@example.org")
	if _, err := a.OAuth.Exchange(ctx, code); err == nil {
		t.Error("a code made with a challenge was redeemed without a verifier")
	}
}

func TestAPublicClientWithoutS256IsSentBackBeforeAnyLogin(t *testing.T) {
	rg, a := newWikiRig(t, openid.ClientConfig{ID: "spa", RedirectURIs: []string{appRedirect}, Trusted: true})
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no challenge": nil,
		"plain":        {oauth2.SetAuthURLParam("code_challenge", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
	} {
		back, resp, body := a.Login(webtest.NewBrowser(t, rg.issuer), "", opts...)
		if back == nil || back.Query().Get("error") != "invalid_request" || back.Query().Get("state") != webtest.State {
			t.Errorf("%s: %d %v\n%s", name, resp.StatusCode, back, body)
		}
	}
	if n := rg.asker.asked.Load(); n != 0 {
		t.Errorf("%d XMPP asks were sent", n)
	}
	// With S256 it works, without a secret.
	code, verifier := a.Code(webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	if _, err := a.OAuth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Errorf("a public client with S256: %v", err)
	}
}

func TestPromptNoneWithoutASessionIsLoginRequired(t *testing.T) {
	rg, a := newWikiRig(t)
	back, resp, body := a.Login(webtest.NewBrowser(t, rg.issuer), "", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption("v"))
	if back == nil || back.Query().Get("error") != "login_required" || back.Query().Get("state") != webtest.State {
		t.Fatalf("prompt=none without a session: %d %v\n%s", resp.StatusCode, back, body)
	}
}

func TestAVisitorWithASessionIsNotAskedAgainUnlessPromptOrMaxAgeSaySo(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Code(b, "alice@example.org") // logs in
	asked := rg.asker.asked.Load()

	for _, tc := range []struct {
		name   string
		after  time.Duration
		params []oauth2.AuthCodeOption
		asks   bool
	}{
		{"again", 0, nil, false},
		{"prompt=none", 0, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}, false},
		{"max_age=10000", 0, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "10000")}, false},
		{"max_age=60 after 2 minutes", 2 * time.Minute, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "60")}, true},
		{"prompt=login", 0, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login")}, true},
	} {
		rg.clock.add(tc.after)
		before := rg.asker.asked.Load()
		verifier := oauth2.GenerateVerifier()
		back, resp, body := a.Login(b, "alice@example.org", append(tc.params, oauth2.S256ChallengeOption(verifier))...)
		if back == nil || back.Query().Get("code") == "" {
			t.Fatalf("%s: no code: %d %v\n%s", tc.name, resp.StatusCode, back, body)
		}
		if got := rg.asker.asked.Load() > before; got != tc.asks {
			t.Errorf("%s: asked in XMPP: %v, want %v", tc.name, got, tc.asks)
		}
		tok, err := a.OAuth.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		idt, err := a.Verifier.Verify(context.Background(), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			AuthTime int64 `json:"auth_time"`
		}
		mustClaims(t, idt, &c)
		if age := rg.clock.now().Sub(time.Unix(c.AuthTime, 0)); tc.asks && age > 2*time.Second {
			t.Errorf("%s: auth_time is %v old after a new login", tc.name, age)
		}
	}
	_ = asked
}

func TestAnAddressTheClientRefusesGetsAPageNotALoop(t *testing.T) {
	rg, a := newWikiRig(t, openid.ClientConfig{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, Deny: []string{"alice@example.org"}, Trusted: true})
	back, resp, body := a.Login(webtest.NewBrowser(t, rg.issuer), "alice@example.org", oauth2.S256ChallengeOption("v"))
	if back != nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "alice@example.org") {
		t.Fatalf("a refused address: %d %v\n%s", resp.StatusCode, back, body)
	}
}

func TestALoginLinkOpenedInAnotherBrowserDoesNothing(t *testing.T) {
	rg, a := newWikiRig(t)
	attacker := webtest.NewBrowser(t, rg.issuer)
	resp, _ := attacker.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	link := resp.Header.Get("Location")
	if !strings.Contains(link, "/login?id=") {
		t.Fatalf("authorize: %d %q", resp.StatusCode, link)
	}
	victim := webtest.NewBrowser(t, rg.issuer)
	a.Code(victim, "alice@example.org") // the victim has a session
	for _, path := range []string{link, "/authorize/callback?" + strings.SplitN(link, "?", 2)[1]} {
		resp, body := victim.Do("GET", webtest.Relative(t, rg.issuer+path), nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !isInvalidPage(body, "another browser") {
			t.Errorf("the attacker's %s in the victim's browser: %d %q\n%s", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	// And the attacker's own browser gets no code for the victim.
	resp, body := attacker.Do("GET", webtest.Relative(t, rg.issuer+"/authorize/callback?"+strings.SplitN(link, "?", 2)[1]), nil)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") {
		t.Errorf("the attacker got a code: %s\n%s", loc, body)
	}
}

func TestLogoutEndsTheSessionAndReturnsToTheApp(t *testing.T) {
	rg, a := newWikiRig(t)
	ctx := context.Background()
	b := webtest.NewBrowser(t, rg.issuer)
	code, verifier := a.Code(b, "alice@example.org")
	tok, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"st"}}
	resp, body := b.Do("GET", "/end_session?"+q.Encode(), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://app.example/bye?state=st" {
		t.Fatalf("end_session: %d %q\n%s", resp.StatusCode, loc, body)
	}
	back, resp, body := a.Login(b, "", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption("v"))
	if back == nil || back.Query().Get("error") != "login_required" {
		t.Fatalf("after the logout, prompt=none: %d %v\n%s", resp.StatusCode, back, body)
	}
	q.Set("post_logout_redirect_uri", "https://evil.example/")
	if resp, _ := b.Do("GET", "/end_session?"+q.Encode(), nil); strings.HasPrefix(resp.Header.Get("Location"), "https://evil.example") {
		t.Error("end_session went to an unregistered URI")
	}
}

func TestAKeyRotationBreaksNoTokenARelyingPartyHolds(t *testing.T) {
	rg, a := newWikiRig(t)
	ctx := context.Background()
	b := webtest.NewBrowser(t, rg.issuer)
	idToken := func() (string, string) {
		code, verifier := a.Code(b, "alice@example.org")
		tok, err := a.OAuth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw := tok.Extra("id_token").(string)
		return raw, kidOf(t, raw)
	}
	old, oldKid := idToken()
	// Past the rotation: a new key signs, and the old one is still
	// published for the tokens it signed.
	rg.clock.add(721 * time.Hour)
	fresh, newKid := idToken()
	if newKid == oldKid {
		t.Fatal("no new signing key after a rotation period")
	}
	verify := a.Provider.Verifier(&oidc.Config{ClientID: "wiki", SkipExpiryCheck: true})
	for _, raw := range []string{old, fresh} {
		if _, err := verify.Verify(ctx, raw); err != nil {
			t.Errorf("a token of kid %s no longer verifies: %v", kidOf(t, raw), err)
		}
	}
}

// isInvalidPage reports whether body is the gate's page for a login that
// cannot go on, whose detail mentions detail.
func isInvalidPage(body, detail string) bool {
	return strings.Contains(body, "<h1>This login cannot go on</h1>") && strings.Contains(body, detail)
}

func TestAuthorizationRequestsCannotFillTheMemory(t *testing.T) {
	rg, a := newWikiRig(t)
	long := strings.Repeat("s", 5000)
	back, resp, body := a.Login(webtest.NewBrowser(t, rg.issuer), "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("nonce", long))
	if back == nil || back.Query().Get("error") != "invalid_request" {
		t.Errorf("a 5000-byte nonce: %d %v\n%.300s", resp.StatusCode, back, body)
	}
	// Requests nobody logs in to pile up until the cap, then are refused;
	// once they expire, requests are taken again.
	b := webtest.NewBrowser(t, rg.issuer)
	authorize := webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v")))
	refused := 0
	for range 10010 {
		resp, _ := b.Do("GET", authorize, nil)
		if loc := resp.Header.Get("Location"); strings.Contains(loc, "error=temporarily_unavailable") {
			refused++
		} else if !strings.Contains(loc, "/login?id=") {
			t.Fatalf("authorize: %d %q", resp.StatusCode, loc)
		}
	}
	if refused != 10 {
		t.Errorf("%d of 10010 requests refused, want the 10 past the cap", refused)
	}
	rg.clock.add(16 * time.Minute)
	if resp, _ := b.Do("GET", authorize, nil); !strings.Contains(resp.Header.Get("Location"), "/login?id=") {
		t.Errorf("after the requests expired: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
