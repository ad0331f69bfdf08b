package openid_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

func TestOfConcurrentRefreshesOnlyOneWins(t *testing.T) {
	rg, a := newWikiRig(t)
	a.OAuth.Scopes = append(a.OAuth.Scopes, "offline_access")
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := a.OAuth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent redemptions of one refresh token succeeded", wins.Load())
	}
}

func subOf(t *testing.T, a *webtest.RelyingParty, tok *oauth2.Token) string {
	idt, err := a.Verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	return idt.Subject
}

func TestSubjectIsHMACOfTheWholeBareJID(t *testing.T) {
	rg, a := newWikiRig(t)
	var key []byte
	for k, v := range rg.storage.m {
		if strings.HasSuffix(k, "/subject_key") {
			key = v
		}
	}
	for _, jid := range []string{"alice@example.org", "alice@example.net"} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(jid))
		if got := subOf(t, a, tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), jid)); got != base64.RawURLEncoding.EncodeToString(m.Sum(nil)) {
			t.Errorf("%s: sub %s is not HMAC(subject_key, bare JID)", jid, got)
		}
	}
}

func TestCORSNeverWithCredentials(t *testing.T) {
	rg, _ := newWikiRig(t)
	for _, path := range []string{"/oauth/token", "/userinfo", "/keys"} {
		req, _ := http.NewRequest("OPTIONS", rg.issuer+path, nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: credentials allowed cross-origin", path)
		}
	}
}

func TestTokenAnswersAreNotCached(t *testing.T) {
	rg, a := newWikiRig(t)
	code, verifier := a.Code(webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {appRedirect}}
	req, _ := http.NewRequest("POST", rg.issuer+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("wiki", appSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token answer: %d Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestDiscoveryOffersOnlyWhatTheProviderDoes(t *testing.T) {
	rg, _ := newWikiRig(t)
	resp, err := http.Get(rg.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b, _ := json.Marshal([]any{d["response_types_supported"], d["code_challenge_methods_supported"], d["token_endpoint_auth_methods_supported"]})
	if string(b) != `[["code"],["S256"],["none","client_secret_basic","client_secret_post"]]` {
		t.Errorf("discovery: %s", b)
	}
}

func TestTwoIssuersShareNothing(t *testing.T) {
	st := newMemStorage()
	for _, iss := range []string{"https://a.example", "https://b.example"} {
		cfg := openid.Config{Issuer: iss, Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}}}}
		if _, err := openid.New(context.Background(), cfg, nil, openid.NewStore(), st, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for k := range st.m {
		if strings.HasSuffix(k, "/subject_key") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("two issuers share a subject key (%d keys)", n)
	}
}

func TestASlowLoginSurvivesAnotherVisitorsAuthorize(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	resp, _ := b.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	link := resp.Header.Get("Location")
	rg.clock.add(2 * time.Minute)
	webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	if resp, _ := b.Do("GET", webtest.Relative(t, rg.issuer+link), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("a 2-minute-old login was swept: %d", resp.StatusCode)
	}
}

var s2csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestConsentWithoutAnAnswerOrFromTheQueryIsNoConsent(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	_, resp, body := a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v"))
	page := resp.Request.URL.RequestURI()
	tok := s2csrf.FindStringSubmatch(body)[1]
	for name, path := range map[string]string{"no answer": page, "answer in the query": page + "&consent=allow"} {
		r, _ := b.Do("POST", path, url.Values{"csrf": {tok}})
		if strings.Contains(r.Header.Get("Location"), "/authorize/callback") {
			t.Errorf("%s: consent taken as given", name)
		}
	}
}

func TestDenyEndsTheRequest(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	_, resp, body := a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v"))
	page := resp.Request.URL.RequestURI()
	tok := s2csrf.FindStringSubmatch(body)[1]
	b.Do("POST", page, url.Values{"csrf": {tok}, "consent": {"deny"}})
	if r, _ := b.Do("POST", page, url.Values{"csrf": {tok}, "consent": {"allow"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a denied request could still be allowed: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestCallbackReplayGivesNoSecondCode(t *testing.T) {
	rg, a := newWikiRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Code(b, "alice@example.org")
	resp, _ := b.Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	resp, _ = b.Do("GET", webtest.Relative(t, rg.issuer+resp.Header.Get("Location")), nil)
	cb := webtest.Relative(t, resp.Header.Get("Location"))
	b.Do("GET", cb, nil)
	if resp, _ := b.Do("GET", cb, nil); strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Error("a replayed callback made a second code")
	}
}

func TestLogoutEndsOnlyThatClientsRefreshTokens(t *testing.T) {
	rg, wiki := newWikiRig(t,
		openid.ClientConfig{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, RefreshTokens: true, Trusted: true},
		openid.ClientConfig{ID: "blog", Secret: appSecret, RedirectURIs: []string{appRedirect}, RefreshTokens: true, Trusted: true})
	blog := newApp(t, rg, "blog", appSecret, "offline_access")
	wiki.OAuth.Scopes = append(wiki.OAuth.Scopes, "offline_access")
	b := webtest.NewBrowser(t, rg.issuer)
	wt := tokensOf(t, wiki, b, "alice@example.org")
	bt := tokensOf(t, blog, b, "")
	b.Do("GET", "/end_session?"+url.Values{"id_token_hint": {wt.Extra("id_token").(string)}}.Encode(), nil)
	if _, err := blog.OAuth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: bt.RefreshToken}).Token(); err != nil {
		t.Errorf("logging out of wiki ended blog's refresh token: %v", err)
	}
}

func TestWrongLengthStoredSecretIsRefused(t *testing.T) {
	st := newMemStorage()
	iss := "https://a.example"
	sum := sha256.Sum256([]byte(iss))
	_ = sum
	cfg := openid.Config{Issuer: iss, Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}}}}
	if _, err := openid.New(context.Background(), cfg, nil, openid.NewStore(), st, nil, nil); err != nil {
		t.Fatal(err)
	}
	for k := range st.m {
		if strings.HasSuffix(k, "token_key") {
			st.m[k] = []byte("short")
		}
	}
	if _, err := openid.New(context.Background(), cfg, nil, openid.NewStore(), st, nil, nil); err == nil {
		t.Error("a 5-byte token_key was accepted")
	}
}

func TestTokensLiveTheConfiguredLifetimes(t *testing.T) {
	rg, a := newWikiRig(t)
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	idt, _ := a.Verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if d := idt.Expiry.Sub(idt.IssuedAt); d != time.Hour {
		t.Errorf("ID token lifetime %v", d)
	}
	resp, _ := http.Get(rg.issuer + "/keys")
	var set struct{ Keys []struct{ N string } }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N); len(n) != 256 {
		t.Errorf("RSA modulus %d bytes", len(n))
	}
}

func TestARefreshCannotWidenTheScopes(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}, Trusted: true}},
		EmailDomains: []string{"example.org"}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	a.OAuth.Scopes = append(a.OAuth.Scopes, "admin")
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	ui, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil || ui.Email != "" {
		t.Errorf("userinfo for scope openid: %+v %v", ui, err)
	}
	if s, _ := tok.Extra("scope").(string); strings.Contains(s, "admin") {
		t.Errorf("an unknown scope was granted: %q", s)
	}
}

func TestTheBindingCookieIsHTTPOnlyAndLax(t *testing.T) {
	rg, a := newWikiRig(t)
	resp, _ := webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil)
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"xmpp_auth_oidc=", "Path=/", "Max-Age=900", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("binding cookie %q lacks %s", sc, want)
		}
	}
}

func TestConsentPageSaysWhoAsksAndOffersBoth(t *testing.T) {
	rg, a := newUntrustedRig(t)
	_, _, body := a.Login(webtest.NewBrowser(t, rg.issuer), "alice@example.org", oauth2.S256ChallengeOption("v"))
	if !strings.Contains(body, "The Wiki asks to log you in as alice@example.org") ||
		!regexp.MustCompile(`value="allow">Allow</button>`).MatchString(body) || !regexp.MustCompile(`value="deny"[^>]*>Deny</button>`).MatchString(body) {
		t.Errorf("consent page:\n%s", body)
	}
}
