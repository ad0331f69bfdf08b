package openid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
	// A logout to a URI the client did not register is refused, and ends
	// nothing.
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {"st"}}
	if resp, _ := b.Do("GET", "/end_session?"+q.Encode(), nil); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("end_session to an unregistered URI: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if back, _, _ := a.Login(b, "", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption("v")); back == nil || back.Query().Get("code") == "" {
		t.Fatal("a refused logout ended the session")
	}
	q.Set("post_logout_redirect_uri", "https://app.example/bye")
	resp, body := b.Do("GET", "/end_session?"+q.Encode(), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://app.example/bye?state=st" {
		t.Fatalf("end_session: %d %q\n%s", resp.StatusCode, loc, body)
	}
	back, resp, body := a.Login(b, "", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption("v"))
	if back == nil || back.Query().Get("error") != "login_required" {
		t.Fatalf("after the logout, prompt=none: %d %v\n%s", resp.StatusCode, back, body)
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
	// Nobody asks for a token for 29 days: the next key, due at 30, is
	// made at the first request after, and published a day before it
	// signs; the old one signs until then.
	rg.clock.add(29 * 24 * time.Hour)
	if _, kid := idToken(); kid != oldKid {
		t.Fatal("a new key signed at once")
	}
	if n := len(keySet(t, rg)); n != 4 {
		t.Fatalf("the key set has %d keys a day before the rotation, want 4 (two of each algorithm)", n)
	}
	rg.clock.add(25 * time.Hour)
	fresh, newKid := idToken()
	if newKid == oldKid || !slices.Contains(keySet(t, rg), newKid) {
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
	// Requests nobody logs in to cannot take every place: 50 may wait from
	// one network (an IPv6 /56 four times as many), and when 10 000 wait, a
	// new one takes the place of the oldest nobody followed to its login
	// page; such a request lives two minutes.
	b := webtest.NewBrowser(t, rg.issuer)
	authorize := webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v")))
	ask := func(ip string) string {
		resp, _ := b.Do("GET", authorize, nil, "X-Test-Client-IP", ip)
		loc := resp.Header.Get("Location")
		switch {
		case strings.Contains(loc, "error=temporarily_unavailable"):
			return "refused"
		case strings.Contains(loc, "/login?id="):
			return loc
		}
		t.Fatalf("authorize: %d %q", resp.StatusCode, loc)
		return ""
	}
	refusedOf := func(ips []string) (refused int) {
		for _, ip := range ips {
			if ask(ip) == "refused" {
				refused++
			}
		}
		return refused
	}
	repeat := func(ip string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = ip
		}
		return out
	}
	if n := refusedOf(repeat("192.0.2.1", 51)); n != 1 {
		t.Errorf("%d of 51 requests from one address refused, want 1", n)
	}
	var slash56 []string
	for i := range 5 { // five /64s of one /56: 4 × 50 fit
		slash56 = append(slash56, repeat(fmt.Sprintf("2001:db8:0:%x::1", i), 50)...)
	}
	if n := refusedOf(slash56); n != 50 {
		t.Errorf("%d of 250 requests from one /56 refused, want 50", n)
	}

	// A visitor who follows their request to the login page keeps it
	// through a flood from 200 networks.
	visitor := webtest.NewBrowser(t, rg.issuer)
	resp, _ = visitor.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	loginPage := resp.Header.Get("Location")
	if r, _ := visitor.Do("GET", loginPage, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("the visitor's login page: %d", r.StatusCode)
	}
	var flood []string
	for i := range 10200 {
		flood = append(flood, fmt.Sprintf("10.%d.%d.1", i/50/200, (i/50)%200))
	}
	if n := refusedOf(flood); n != 0 {
		t.Errorf("%d of a flood of 10 200 refused, want none (the oldest unvisited give way)", n)
	}
	if ask("198.51.100.7") == "refused" {
		t.Error("a visitor from another network was refused during the flood")
	}
	back, resp, body = webtest.FollowLogin(visitor, rg.issuer+loginPage, "alice@example.org", appRedirect, "")
	if back == nil || back.Query().Get("code") == "" {
		t.Errorf("the visitor's login after the flood: %d %v\n%.300s", resp.StatusCode, back, body)
	}
	rg.clock.add(3 * time.Minute)
	if ask("192.0.2.1") == "refused" {
		t.Error("after two minutes, the unvisited requests of a network still count")
	}
}

// keySet is the key ids the provider publishes.
func keySet(t *testing.T, rg *rig) []string {
	t.Helper()
	resp, body := webtest.NewBrowser(t, rg.issuer).Do("GET", "/keys", nil)
	var ks struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &ks); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/keys: %d %v", resp.StatusCode, err)
	}
	var ids []string
	for _, k := range ks.Keys {
		if k.D != "" {
			t.Fatal("/keys publishes a private key")
		}
		ids = append(ids, k.Kid)
	}
	return ids
}

func TestAKeyMadeLateIsPublishedADayBeforeItSigns(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	kid := func() string {
		code, verifier := a.Code(b, "alice@example.org")
		tok, err := a.OAuth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return kidOf(t, tok.Extra("id_token").(string))
	}
	first := kid()
	rg.clock.add(40 * 24 * time.Hour) // ten days past the rotation, and nobody came
	if kid() != first {
		t.Error("the late key signed before it was published")
	}
	rg.clock.add(23 * time.Hour)
	if kid() != first {
		t.Error("the late key signed less than a day after it was published")
	}
	rg.clock.add(2 * time.Hour)
	if kid() == first {
		t.Error("the late key did not sign a day after it was published")
	}
}
