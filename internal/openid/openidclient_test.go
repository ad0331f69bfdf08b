package openid_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

// rpDir holds the relying party written with openid-client, the OpenID
// Certified library of Node.js, and its locked dependencies.
const rpDir = "testdata/openid-client"

// startNodeRP runs rp.mjs against the provider as client; it fails the
// test, with what to do, when Node.js or the dependencies are missing.
func startNodeRP(t *testing.T, issuer, clientID, secret string) (io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs Node.js and openid-client; skipped under -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: install the Debian packages nodejs and npm (scripts/test.sh does)")
	}
	if _, err := os.Stat(filepath.Join(rpDir, "node_modules", "openid-client")); err != nil {
		t.Fatalf("openid-client is not installed: run npm ci --prefix internal/openid/%s (scripts/test.sh does)", rpDir)
	}
	cmd := exec.Command(node, "rp.mjs")
	cmd.Dir = rpDir
	cmd.Env = append(os.Environ(), "ISSUER="+issuer, "CLIENT_ID="+clientID, "CLIENT_SECRET="+secret, "REDIRECT="+appRedirect)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	out := bufio.NewScanner(outPipe)
	out.Buffer(make([]byte, 64<<10), 1<<20)
	return in, out
}

// nodeSays reads the relying party's next line into v, failing on its error.
func nodeSays(t *testing.T, out *bufio.Scanner, v any) {
	t.Helper()
	if !out.Scan() {
		t.Fatalf("openid-client said nothing more: %v", out.Err())
	}
	var e struct{ Error string }
	if json.Unmarshal(out.Bytes(), &e) == nil && e.Error != "" {
		t.Fatalf("openid-client: %s", e.Error)
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("openid-client said %q: %v", out.Text(), err)
	}
}

func TestOpenIDClientLogsInVerifiesRefreshesAndLogsOut(t *testing.T) {
	for _, c := range []openid.ClientConfig{
		{ID: "confidential", Secret: appSecret, RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{"https://app.example/bye"}, RefreshTokens: true, Trusted: true},
		{ID: "public", RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{"https://app.example/bye"}, RefreshTokens: true},
	} {
		t.Run(c.ID, func(t *testing.T) {
			rg := newRig(t, openid.Config{Clients: []openid.ClientConfig{c}, EmailDomains: []string{"example.org"}}, login.Config{})
			in, out := startNodeRP(t, rg.provider.Issuer(), c.ID, c.Secret)
			var start struct{ Authorize string }
			nodeSays(t, out, &start)
			b := webtest.NewBrowser(t, rg.issuer)
			back, resp, body := webtest.FollowLogin(b, start.Authorize, "alice@example.org", appRedirect, "allow")
			if back == nil {
				t.Fatalf("no redirect to the app: %d\n%s", resp.StatusCode, body)
			}
			if _, err := io.WriteString(in, back.String()+"\n"); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Claims     map[string]any
				Userinfo   map[string]any
				Refreshed  bool
				EndSession string
			}
			nodeSays(t, out, &got)
			if got.Claims["preferred_username"] != "alice@example.org" || got.Claims["email_verified"] != false ||
				got.Userinfo["sub"] != got.Claims["sub"] || !got.Refreshed {
				t.Errorf("openid-client got %+v", got)
			}
			resp, _ = b.Do("GET", webtest.Relative(t, got.EndSession), nil)
			if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://app.example/bye") {
				t.Errorf("openid-client's end-session URL: %d %q", resp.StatusCode, loc)
			}
		})
	}
}
