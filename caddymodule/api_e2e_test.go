package caddymodule_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// The /auth API of HTTPAuthenticationOverXMPP (api.go), through real
// Prosody. Calls are shaped as its clients send them: the Django
// "XmppBackend" recipe (GET, & between jid, domain, method, timeout,
// transaction_id) and the original README (; between the pairs).

const testAPIToken = "an-api-token-for-the-tests"

// apiConfig is a server with three routes: /auth, the API with its
// defaults; /tok, the API with a bearer token; anything else a 404. Caddy
// trusts 127.0.0.1 as a proxy, so a test can pose as any client IP with
// X-Forwarded-For.
func (s *site) apiConfig() []byte {
	s.t.Setenv("XEPAUTH_TEST_API_TOKEN", testAPIToken)
	route := func(path string, handler map[string]any) map[string]any {
		return map[string]any{"match": []any{map[string]any{"path": []string{path}}}, "handle": []any{handler}, "terminal": true}
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": s.storage},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "WARN"}}},
		"apps": map[string]any{
			"xmpp_auth": map[string]any{"server": s.p.ComponentAddr, "domain": s.p.ComponentDomain, "secret": s.p.ComponentSecret},
			"http": map[string]any{"servers": map[string]any{"api": map[string]any{
				"listen":          []string{s.addr},
				"automatic_https": map[string]any{"disable": true},
				"trusted_proxies": map[string]any{"source": "static", "ranges": []string{"127.0.0.1/32"}},
				"routes": []any{
					route("/auth", map[string]any{"handler": "xmpp_auth_api"}),
					route("/tok", map[string]any{"handler": "xmpp_auth_api", "bearer_token": "{env.XEPAUTH_TEST_API_TOKEN}"}),
				},
			}}},
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

func newAPISite(t *testing.T) *site {
	t.Helper()
	return loadAPI(newSite(t))
}

// loadAPI loads s with the API's config.
func loadAPI(s *site) *site {
	s.t.Helper()
	if err := caddy.Load(s.apiConfig(), true); err != nil {
		s.t.Fatalf("load config: %v", err)
	}
	return s
}

// call sends GET base+path with hdr (name, value pairs) and returns the
// status, the body and the response headers.
func (s *site) call(path string, hdr ...string) (int, string, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.addr+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// djangoQuery is the query the Django recipe builds: urlencode of a dict
// in this order.
func djangoQuery(jid, domain, method, timeout, txid string) string {
	var b strings.Builder
	for _, kv := range [][2]string{{"jid", jid}, {"domain", domain}, {"method", method}, {"timeout", timeout}, {"transaction_id", txid}} {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[0] + "=" + url.QueryEscape(kv[1]))
	}
	return b.String()
}

// readmeQuery is the original README's form: ; between the pairs.
func readmeQuery(jid, txid string) string {
	return "jid=" + url.QueryEscape(jid) + ";domain=example.org;method=POST;transaction_id=" + url.QueryEscape(txid) + ";timeout=120"
}

func TestAPIAnswersAsTheReferenceComponent(t *testing.T) {
	s := newAPISite(t)
	alice := s.p.NewUser(t, "alice", xmpptest.Approve)
	s.p.NewUser(t, "denier", xmpptest.Deny)
	silent := s.p.NewUser(t, "silent", xmpptest.Silent)
	aliceFull := alice.Session().LocalAddr().String()
	if !strings.Contains(aliceFull, "/") {
		t.Fatalf("alice's full JID %q", aliceFull)
	}

	t.Run("200 Django, bare JID, by message", func(t *testing.T) {
		tx := newTxID()
		status, body, hdr := s.call("/auth?" + djangoQuery("alice@localhost", "shop.example.org", "POST", "60", tx))
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") || hdr.Get("X-Transaction-Id") != "" {
			t.Fatalf("%d %v\n%s", status, hdr, body)
		}
		asks := asksTo(alice, 300*time.Millisecond)
		if len(asks) != 1 || asks[0].Kind != "message" || asks[0].ID != tx || asks[0].Method != "POST" ||
			asks[0].URL != "https://shop.example.org" || !strings.Contains(asks[0].Body, "shop.example.org") {
			t.Errorf("alice was asked %+v", asks)
		}
	})
	t.Run("200 README, full JID, by iq", func(t *testing.T) {
		status, body, _ := s.call("/auth?" + readmeQuery(aliceFull, "abcd"))
		if status != 200 {
			t.Fatalf("%d\n%s", status, body)
		}
		asks := asksTo(alice, 300*time.Millisecond)
		if len(asks) != 1 || asks[0].Kind != "iq" || asks[0].ID != "abcd" || asks[0].Method != "POST" || asks[0].URL != "https://example.org" {
			t.Errorf("alice was asked %+v", asks)
		}
	})
	t.Run("200 POST form, domain given as a URL", func(t *testing.T) {
		form := "jid=alice%40localhost;domain=" + url.QueryEscape("http://127.0.0.1:8000/login") + "&method=GET&transaction_id=form1"
		resp, err := http.Post("http://"+s.addr+"/auth", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		if asks := asksTo(alice, 300*time.Millisecond); len(asks) != 1 || asks[0].URL != "http://127.0.0.1:8000/login" {
			t.Errorf("alice was asked %+v", asks)
		}
	})
	t.Run("generated transaction id is returned and is the code asked", func(t *testing.T) {
		status, body, hdr := s.call("/auth?jid=alice%40localhost&domain=example.org&method=GET")
		tx := hdr.Get("X-Transaction-Id")
		if status != 200 || len(tx) != 6 {
			t.Fatalf("%d X-Transaction-Id %q\n%s", status, tx, body)
		}
		if asks := asksTo(alice, 300*time.Millisecond); len(asks) != 1 || asks[0].ID != tx || !strings.Contains(asks[0].Body, tx) {
			t.Errorf("header %q, alice was asked %+v", tx, asks)
		}
	})
	t.Run("401 denied", func(t *testing.T) {
		for _, q := range []string{djangoQuery("denier@localhost", "example.org", "GET", "60", newTxID()), readmeQuery("denier@localhost", "abcd")} {
			if status, body, _ := s.call("/auth?" + q); status != 401 || !strings.Contains(body, "refused") {
				t.Errorf("%s: %d\n%s", q, status, body)
			}
		}
	})
	t.Run("401 timeout", func(t *testing.T) {
		start := time.Now()
		status, body, _ := s.call("/auth?" + djangoQuery("silent@localhost", "example.org", "GET", "1", newTxID()))
		took := time.Since(start)
		if status != 401 || !strings.Contains(body, "in time") {
			t.Fatalf("%d\n%s", status, body)
		}
		if took < time.Second || took > 5*time.Second {
			t.Errorf("held %v with timeout=1", took)
		}
		if n := len(asksTo(silent, 100*time.Millisecond)); n != 1 {
			t.Errorf("silent was asked %d times", n)
		}
	})
	t.Run("401 a spent transaction id, without asking", func(t *testing.T) {
		// alice approved "abcd" above, by iq to her full JID: the id is
		// spent for her bare JID.
		status, body, _ := s.call("/auth?" + readmeQuery("alice@localhost", "abcd"))
		if status != 401 || !strings.Contains(body, "used") {
			t.Fatalf("%d\n%s", status, body)
		}
		if n := len(asksTo(alice, 300*time.Millisecond)); n != 0 {
			t.Errorf("alice was asked %d times", n)
		}
	})
	t.Run("400", func(t *testing.T) {
		for name, q := range map[string]string{
			"missing jid":        "domain=example.org&method=GET&transaction_id=abcd",
			"missing method":     "jid=alice%40localhost;domain=example.org;transaction_id=abcd",
			"missing domain":     "jid=alice%40localhost&method=GET&transaction_id=abcd",
			"invalid JID":        djangoQuery("alice@@localhost", "example.org", "GET", "60", "abcd"),
			"bad method":         djangoQuery("alice@localhost", "example.org", "GET /", "60", "abcd"),
			"bad transaction id": djangoQuery("alice@localhost", "example.org", "GET", "60", "no"),
			"bad escape":         "jid=alice%4&domain=example.org&method=GET",
			"component's own":    djangoQuery(s.p.ComponentDomain, "example.org", "GET", "60", "abcd"),
		} {
			status, body, _ := s.call("/auth?" + q)
			if status != 400 || !strings.HasPrefix(body, "400 Bad Request: ") {
				t.Errorf("%s: %d\n%s", name, status, body)
			}
		}
		if n := len(asksTo(alice, 300*time.Millisecond)); n != 0 {
			t.Errorf("a bad call asked alice %d times", n)
		}
	})
	t.Run("523 unknown account", func(t *testing.T) {
		status, body, _ := s.call("/auth?" + djangoQuery("nobody@localhost", "example.org", "GET", "60", newTxID()))
		if status != 523 || !strings.HasPrefix(body, "523 Unreachable: ") {
			t.Fatalf("%d\n%s", status, body)
		}
	})
	t.Run("429 over the per-JID limit, nothing sent", func(t *testing.T) {
		bombed := s.p.NewUser(t, "bombed", xmpptest.Silent)
		done := make(chan int, 3)
		for range 3 { // the default limit: 3 open per JID
			go func() {
				status, _, _ := s.call("/auth?" + djangoQuery("bombed@localhost", "example.org", "GET", "2", newTxID()))
				done <- status
			}()
		}
		if n := len(asksTo(bombed, 500*time.Millisecond)); n != 3 {
			t.Fatalf("bombed was asked %d times, want 3", n)
		}
		status, body, _ := s.call("/auth?" + djangoQuery("bombed@localhost", "example.org", "GET", "2", newTxID()))
		if status != 429 || !strings.Contains(body, "nothing was sent") {
			t.Errorf("fourth open call: %d\n%s", status, body)
		}
		for range 3 {
			if status := <-done; status != 401 {
				t.Errorf("an open call ended with %d", status)
			}
		}
		if n := len(asksTo(bombed, 100*time.Millisecond)); n != 0 {
			t.Errorf("the refused call was sent: %d more asks", n)
		}
	})
	t.Run("405 other methods", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", "http://"+s.addr+"/auth?"+readmeQuery("alice@localhost", "put1"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestAPIIsOnlyForPrivateCallersOrTokenHolders(t *testing.T) {
	s := newAPISite(t)
	alice := s.p.NewUser(t, "alice", xmpptest.Approve)
	q := "/auth?" + djangoQuery("alice@localhost", "example.org", "GET", "60", newTxID())

	for _, ip := range []string{"203.0.113.5", "2001:db8::1", "172.32.0.1"} {
		if status, body, _ := s.call(q, "X-Forwarded-For", ip); status != 403 {
			t.Errorf("from %s: %d\n%s", ip, status, body)
		}
	}
	if n := len(asksTo(alice, 300*time.Millisecond)); n != 0 {
		t.Fatalf("a refused caller got alice asked %d times", n)
	}
	if status, body, _ := s.call(q, "X-Forwarded-For", "10.1.2.3"); status != 200 {
		t.Errorf("from 10.1.2.3: %d\n%s", status, body)
	}

	tq := "/tok?" + djangoQuery("alice@localhost", "example.org", "GET", "60", newTxID())
	for name, hdr := range map[string][]string{
		"no token from loopback": nil,
		"wrong token":            {"Authorization", "Bearer not-it", "X-Forwarded-For", "203.0.113.5"},
		"Basic":                  {"Authorization", "Basic " + testAPIToken},
	} {
		if status, body, _ := s.call(tq, hdr...); status != 403 {
			t.Errorf("%s: %d\n%s", name, status, body)
		}
	}
	if status, body, _ := s.call(tq, "Authorization", "Bearer "+testAPIToken, "X-Forwarded-For", "203.0.113.5"); status != 200 {
		t.Errorf("with the token from a public address: %d\n%s", status, body)
	}
	if n := len(asksTo(alice, 300*time.Millisecond)); n != 2 {
		t.Errorf("alice was asked %d times, want 2", n)
	}
}

func TestAPIWithTheXMPPServerDownIs523(t *testing.T) {
	s := loadAPI(newSiteWithOwnServer(t))
	silent := s.p.NewUser(t, "silent", xmpptest.Silent)

	// Killed while a call waits: 523 at once, not at the timeout.
	done := make(chan int, 1)
	go func() {
		status, _, _ := s.call("/auth?" + djangoQuery("silent@localhost", "example.org", "GET", "30", newTxID()))
		done <- status
	}()
	if _, err := silent.NextRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := s.p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case status := <-done:
		if status != 523 {
			t.Errorf("after the kill: %d", status)
		}
		if d := time.Since(killed); d > 2*time.Second {
			t.Errorf("answered %v after the kill", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer 10s after the kill")
	}

	// Down: 523 at once, nothing sent.
	start := time.Now()
	status, body, _ := s.call("/auth?" + readmeQuery("silent@localhost", "down1"))
	if status != 523 || !strings.Contains(body, "XMPP server unreachable") || time.Since(start) > time.Second {
		t.Errorf("server down: %d after %v\n%s", status, time.Since(start), body)
	}
}

func TestAPIHandlerWithoutTheAppIsAConfigError(t *testing.T) {
	cfg := `{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["` + freeAddr(t) + `"],"routes":[{"handle":[{"handler":"xmpp_auth_api"}]}]}}}}}`
	err := caddy.Load([]byte(cfg), true)
	t.Cleanup(func() { _ = caddy.Stop() })
	if err == nil || !strings.Contains(err.Error(), "no XMPP component configured") {
		t.Fatalf("err = %v", err)
	}
}
