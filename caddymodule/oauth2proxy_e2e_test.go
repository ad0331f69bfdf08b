package caddymodule_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// oauth2ProxyPath is the oauth2-proxy binary the test command installs
// (scripts/test.sh), or $XEPAUTH_OAUTH2_PROXY.
func oauth2ProxyPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs oauth2-proxy; skipped under -short")
	}
	p := os.Getenv("XEPAUTH_OAUTH2_PROXY")
	if p == "" {
		p = filepath.Join("..", "bin", "oauth2-proxy")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("oauth2-proxy not found at %s: GOBIN=$PWD/bin go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6 "+
			"(scripts/test.sh does), or set XEPAUTH_OAUTH2_PROXY", p)
	}
	return p
}

// The README's oauth2-proxy recipe (docs/openid.md), as written but for
// plain HTTP on 127.0.0.1 (--cookie-secure=false): a visitor reaches the
// application behind oauth2-proxy by approving in XMPP, and the
// application gets the bare JID as the email.
func TestOAuth2ProxyLogsInThroughTheProviderAsTheRecipeSays(t *testing.T) {
	bin := oauth2ProxyPath(t)
	s := newSite(t)
	proxy := freeAddr(t)
	issuer := s.loadOIDC(func(_, c map[string]any) {
		c["id"] = "oauth2-proxy"
		c["redirect_uris"] = []string{"http://" + proxy + "/oauth2/callback"}
		c["trusted"] = true
	})
	s.p.NewUser(t, "alice", xmpptest.Approve)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--provider=oidc", "--oidc-issuer-url="+issuer,
		"--client-id=oauth2-proxy", "--client-secret="+oidcSecret,
		"--redirect-url=http://"+proxy+"/oauth2/callback",
		"--code-challenge-method=S256", "--scope=openid profile email",
		"--oidc-email-claim=preferred_username", "--email-domain=localhost",
		"--cookie-secret=0123456789abcdef0123456789abcdef", "--upstream="+s.upstream.URL,
		"--http-address="+proxy, "--cookie-secure=false", "--skip-provider-button")
	var out webtest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	b := webtest.NewBrowser(t, "http://"+proxy)
	at := provider(b, issuer)
	var resp *http.Response
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+proxy+"/private?x=1", nil)
		req.Header.Set("Accept", "text/html")
		if r, err := b.Client.Do(req); err == nil {
			resp = r
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not start:\n%s", out.String())
		}
	}
	// From the application to the provider, through oauth2-proxy's start.
	for range 4 {
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, issuer) || loc == "" {
			break
		}
		resp, _ = b.Do("GET", webtest.Relative(t, loc), nil)
	}
	authorize := resp.Header.Get("Location")
	if !strings.HasPrefix(authorize, issuer+"/authorize") {
		t.Fatalf("oauth2-proxy did not send the visitor to the provider: %d %q\n%s", resp.StatusCode, authorize, out.String())
	}
	back, resp, body := webtest.FollowLogin(at, authorize, "alice@localhost", "http://"+proxy+"/oauth2/callback", "")
	if back == nil {
		t.Fatalf("no redirect to oauth2-proxy: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do("GET", back.RequestURI(), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/private?x=1" {
		t.Fatalf("oauth2-proxy's callback: %d %q\n%s\n%s", resp.StatusCode, loc, body, out.String())
	}
	resp, body = b.Do("GET", "/private?x=1", nil)
	last, _ := s.upstream.lastRequest()
	if resp.StatusCode != http.StatusOK || last == nil || last.Header.Get("X-Forwarded-Email") != "alice@localhost" {
		t.Fatalf("the application behind oauth2-proxy: %d %q, email %q\n%s", resp.StatusCode, body, emailOf(last), out.String())
	}
}

// provider is a browser on the provider's host sharing b's cookies.
func provider(b *webtest.Browser, issuer string) *webtest.Browser {
	u, _ := url.Parse(issuer)
	return &webtest.Browser{T: b.T, Base: u.Scheme + "://" + u.Host, Client: b.Client}
}

func emailOf(r *http.Request) string {
	if r == nil {
		return ""
	}
	return r.Header.Get("X-Forwarded-Email")
}
