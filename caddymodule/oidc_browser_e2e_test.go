package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// webApp is a web application that logs its visitors in with OpenID
// Connect (go-oidc and x/oauth2), on its own origin: /login sends the
// visitor to the provider, /callback takes the code and greets them.
type webApp struct {
	*httptest.Server
	mu       sync.Mutex
	rp       *webtest.RelyingParty
	verifier string
}

func newWebApp(t *testing.T) *webApp {
	t.Helper()
	a := &webApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *webApp) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.URL.Path {
	case "/login":
		a.verifier = oauth2.GenerateVerifier()
		http.Redirect(w, r, a.rp.OAuth.AuthCodeURL(webtest.State, oauth2.S256ChallengeOption(a.verifier)), http.StatusFound)
	case "/callback":
		if r.URL.Query().Get("state") != webtest.State {
			http.Error(w, "bad state: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		tok, err := a.rp.OAuth.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(a.verifier))
		if err != nil {
			http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := a.rp.Verifier.Verify(r.Context(), raw)
		var c struct {
			PreferredUsername string `json:"preferred_username"`
		}
		if err != nil || idt.Claims(&c) != nil {
			http.Error(w, fmt.Sprintf("ID token: %v", err), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "<!doctype html><title>app</title><p>hello %s from the app</p>", c.PreferredUsername)
	default:
		http.NotFound(w, r)
	}
}

func TestBrowserLogsInToAnAppThroughTheProviderAndConsents(t *testing.T) {
	s := newSite(t)
	app := newWebApp(t)
	issuer := s.loadOIDC(func(_, c map[string]any) { c["redirect_uris"] = []string{app.URL + "/callback"} })
	app.rp = webtest.NewRelyingParty(t, issuer, "wiki", oidcSecret, app.URL+"/callback", "profile")
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	c := newChrome(t, chromeOptions{})

	c.run("open the app's login", chromedp.Navigate(app.URL+"/login"), chromedp.WaitVisible("#jid", chromedp.ByID))
	c.screenshot("oidc-login")
	code := c.logIn("alice@localhost")
	req := awaitRequest(t, alice)
	if req.ID != code {
		t.Fatalf("the page shows %s, alice was asked to confirm %s", code, req.ID)
	}
	approveByHand(t, alice, req)

	// The wiki is not trusted: alice is asked once whether it may know
	// who she is. Her answer, a form, redirects to the app's origin.
	c.waitFor("the consent page", "", `name="consent"`, 15*time.Second)
	if html := c.html(); !strings.Contains(html, "The Wiki") || !strings.Contains(html, "alice@localhost") {
		t.Errorf("the consent page does not name the app and the address:\n%s", html)
	}
	c.screenshot("oidc-consent")
	c.fitsNarrowest("the consent page")
	c.run("allow", chromedp.Click(`button[value=allow]`, chromedp.ByQuery))
	c.waitFor("back in the app", "", "hello alice@localhost from the app", 15*time.Second)

	// Next time, with the session and the consent, straight through.
	c.run("log in to the app again", chromedp.Navigate(app.URL+"/login"))
	c.waitFor("back in the app at once", "", "hello alice@localhost from the app", 10*time.Second)
	if req, ok := nextRequestWithin(alice, 300*time.Millisecond); ok {
		t.Errorf("alice was asked again (%s)", req.ID)
	}
}

func TestBrowserWithoutJavaScriptLogsInToAnAppThroughTheProvider(t *testing.T) {
	s := newSite(t)
	app := newWebApp(t)
	issuer := s.loadOIDC(func(_, c map[string]any) {
		c["redirect_uris"] = []string{app.URL + "/callback"}
		c["trusted"] = true
	})
	app.rp = webtest.NewRelyingParty(t, issuer, "wiki", oidcSecret, app.URL+"/callback", "profile")
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	c := newChrome(t, chromeOptions{noJavaScript: true})

	c.run("open the app's login", chromedp.Navigate(app.URL+"/login"), chromedp.WaitReady("#jid", chromedp.ByID))
	code := c.logIn("alice@localhost")
	req := awaitRequest(t, alice)
	if req.ID != code {
		t.Fatalf("the page shows %s, alice was asked to confirm %s", code, req.ID)
	}
	approveByHand(t, alice, req)
	// The continue button is a form of the provider's page: what follows
	// ends on the app's origin, which the page's form-action would not
	// allow a form to reach.
	for range 20 {
		if strings.Contains(c.html(), "from the app") {
			break
		}
		c.run("press continue", chromedp.Click(`#continue button`, chromedp.ByQuery))
		time.Sleep(500 * time.Millisecond)
	}
	c.waitFor("back in the app, by the continue button", "", "hello alice@localhost from the app", 10*time.Second)
}
