package openid_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

func newUntrustedRig(t *testing.T) (*rig, *webtest.RelyingParty) {
	t.Helper()
	return newWikiRig(t, openid.ClientConfig{ID: "wiki", Name: "The Wiki", Secret: appSecret, RedirectURIs: []string{appRedirect}})
}

func TestAnUntrustedClientIsAllowedOnceForTheScopesItAsks(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	verifier := oauth2.S256ChallengeOption("v")
	_, resp, body := a.Login(b, "alice@example.org", verifier)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The Wiki") || !strings.Contains(body, `name="consent"`) {
		t.Fatalf("no consent page naming the client: %d\n%s", resp.StatusCode, body)
	}
	a.Consent = "allow"
	if back, resp, body := a.Login(b, "", verifier); back == nil || back.Query().Get("code") == "" {
		t.Fatalf("after allowing: %d %v\n%s", resp.StatusCode, back, body)
	}
	a.Consent = ""
	if back, resp, body := a.Login(b, "", verifier); back == nil || back.Query().Get("code") == "" {
		t.Fatalf("the second time, the visitor was asked again: %d %v\n%s", resp.StatusCode, back, body)
	}
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"a new scope":    {verifier, oauth2.SetAuthURLParam("scope", "openid email")},
		"prompt=consent": {verifier, oauth2.SetAuthURLParam("prompt", "consent")},
	} {
		if back, resp, body := a.Login(b, "", opts...); back != nil || !strings.Contains(body, `name="consent"`) {
			t.Errorf("%s: not asked: %d %v", name, resp.StatusCode, back)
		}
	}
	a.Consent = "deny"
	back, resp, body := a.Login(b, "", verifier, oauth2.SetAuthURLParam("prompt", "consent"))
	if back == nil || back.Query().Get("error") != "access_denied" || back.Query().Get("state") != webtest.State {
		t.Fatalf("denying: %d %v\n%s", resp.StatusCode, back, body)
	}
}

func TestPromptNoneWithoutConsentIsConsentRequired(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v")) // logged in, not consented
	back, resp, body := a.Login(b, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("prompt", "none"))
	if back == nil || back.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %d %v\n%s", resp.StatusCode, back, body)
	}
}

func TestAConsentNotPostedFromTheConsentPageIsRefused(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	_, resp, body := a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v"))
	page := resp.Request.URL.RequestURI()
	token := csrfField.FindStringSubmatch(body)[1]
	for name, post := range map[string]func() *http.Response{
		"no token": func() *http.Response {
			r, _ := b.Do("POST", page, url.Values{"consent": {"allow"}})
			return r
		},
		"another site": func() *http.Response {
			r, _ := b.Do("POST", page, url.Values{"consent": {"allow"}, "csrf": {token}}, "Origin", "https://evil.example")
			return r
		},
	} {
		if r := post(); r.StatusCode != http.StatusBadRequest || strings.Contains(r.Header.Get("Location"), "code=") {
			t.Errorf("%s: %d %q", name, r.StatusCode, r.Header.Get("Location"))
		}
	}
}

func TestAConsentToMoreKeepsWhatWasGrantedBefore(t *testing.T) {
	rg, a := newUntrustedRig(t)
	b := webtest.NewBrowser(t, rg.issuer)
	a.Consent = "allow"
	for _, scope := range []string{"openid profile", "openid email"} {
		if back, resp, _ := a.Login(b, "alice@example.org", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("scope", scope)); back == nil {
			t.Fatalf("allowing %s: %d", scope, resp.StatusCode)
		}
	}
	a.Consent = ""
	if back, _, body := a.Login(b, "", oauth2.S256ChallengeOption("v"), oauth2.SetAuthURLParam("scope", "openid profile")); back == nil {
		t.Errorf("asked again for a scope granted before another:\n%.300s", body)
	}
}
