package openid_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

func TestWhatTheProviderDoesNotOfferIsNotFound(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	for _, path := range []string{"/oauth/introspect", "/device_authorization", "/healthz", "/ready"} {
		if resp, _ := webtest.NewBrowser(t, rg.issuer).Do("GET", path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestAConfidentialClientsLoopbackRedirectIsComparedWithItsPort(t *testing.T) {
	cl := wikiClient()
	cl.RedirectURIs = []string{"http://127.0.0.1:8080/cb"}
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{cl}}, login.Config{})
	q := url.Values{"client_id": {"wiki"}, "redirect_uri": {"http://127.0.0.1:9999/cb"}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier("v")}, "code_challenge_method": {"S256"}}
	resp, _ := webtest.NewBrowser(t, rg.issuer).Do("GET", "/authorize?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("another port: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAccessTokensAreOpaque(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Errorf("the access token is a JWT anyone can read: %s", tok.AccessToken)
	}
}

func TestTheConsentPageNamesAClientWithoutANameByItsID(t *testing.T) {
	cl := wikiClient()
	cl.Trusted = false
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{cl}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	if _, _, body := a.Login(webtest.NewBrowser(t, rg.issuer), "alice@example.org", oauth2.S256ChallengeOption("v")); !strings.Contains(body, "wiki asks to log you in") {
		t.Errorf("consent page:\n%.500s", body)
	}
}

func TestAnEmptyBindingCookieIsReplaced(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret)
	resp, _ := webtest.NewBrowser(t, rg.issuer).Do("GET", webtest.Relative(t, a.OAuth.AuthCodeURL("s", oauth2.S256ChallengeOption("v"))), nil,
		"Cookie", "xmpp_auth_oidc=")
	if !strings.Contains(resp.Header.Get("Location"), "/login?id=") {
		t.Fatalf("authorize with an empty binding cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "xmpp_auth_oidc" && len(c.Value) == 22 {
			return
		}
	}
	t.Error("no new binding was set")
}

func TestARefreshForFewerScopesGetsFewerClaims(t *testing.T) {
	rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{wikiClient()}, EmailDomains: []string{"example.org"}}, login.Config{})
	a := newApp(t, rg, "wiki", appSecret, "email", "offline_access")
	tok := tokensOf(t, a, webtest.NewBrowser(t, rg.issuer), "alice@example.org")
	// x/oauth2 sends no scope with a refresh: the request is made by hand.
	resp, err := http.PostForm(rg.issuer+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"scope": {"openid offline_access"}, "client_id": {"wiki"}, "client_secret": {appSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fresh oauth2.Token
	if err := json.NewDecoder(resp.Body).Decode(&fresh); err != nil || fresh.AccessToken == "" {
		t.Fatalf("refresh: %d %v", resp.StatusCode, err)
	}
	fresh.TokenType = "Bearer"
	ui, err := a.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(&fresh))
	if err != nil || ui.Email != "" {
		t.Errorf("userinfo after a refresh without email: %+v %v", ui, err)
	}
}
