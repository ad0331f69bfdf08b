package caddymodule_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// outcomeLatencies logs alice in n times, each time holding the waiting
// page's long poll open before she answers, and returns, sorted, the times
// from her answer leaving the XMPP client to the poll answering.
func outcomeLatencies(t *testing.T, s *site, alice *xmpptest.User, n int) []time.Duration {
	t.Helper()
	var took []time.Duration
	for range n {
		b := s.browser()
		if resp, body := b.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("waiting page: %d\n%s", resp.StatusCode, body)
		}
		req, err := alice.NextRequest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		polled := make(chan time.Time, 1)
		go func() {
			resp, state := b.Do("POST", "/.xmpp-auth/status", url.Values{"k": {b.Secret}})
			if approvedTo(resp, state) != "/" {
				t.Errorf("status answered %q", state)
			}
			polled <- time.Now()
		}()
		time.Sleep(50 * time.Millisecond) // the poll is now held open
		sent := time.Now()
		approve(t, alice, req)
		took = append(took, (<-polled).Sub(sent))
	}
	slices.Sort(took)
	return took
}

// loadWithLimits loads the site with the app's limits set.
func loadWithLimits(t *testing.T, s *site, limits map[string]any) {
	t.Helper()
	var cfg map[string]any
	if err := jsonUnmarshal(s.config(options{}), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["apps"].(map[string]any)["xmpp_auth"].(map[string]any)["limits"] = limits
	if err := caddyLoad(jsonMarshal(t, cfg)); err != nil {
		t.Fatal(err)
	}
}

// The waiting page holds a long poll open, so it learns the outcome as soon
// as the answer reaches Caddy rather than at the next periodic check.
func TestTheWaitingPageLearnsTheOutcomeWithin100ms(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	took := outcomeLatencies(t, s, s.p.NewUser(t, "alice", xmpptest.Silent), 5)
	t.Logf("from the answer leaving the XMPP client to the page knowing it: %v (median %v)", took, took[len(took)/2])
	if took[len(took)/2] > 100*time.Millisecond {
		t.Errorf("median %v, want at most 100ms", took[len(took)/2])
	}
}

func TestLimitsFromTheConfigApply(t *testing.T) {
	s := newSite(t)
	loadWithLimits(t, s, map[string]any{"jid_open": 1})
	s.p.NewUser(t, "alice", xmpptest.Silent)
	if resp, _ := s.browser().Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	if resp, _ := s.browser().Submit("alice@localhost", "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second open login with jid_open 1: %d", resp.StatusCode)
	}
}

func TestALoginBelongsToTheBrowserThatStartedIt(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	s.p.NewUser(t, "alice", xmpptest.Silent)
	owner, thief := s.browser(), s.browser()
	if resp, _ := owner.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting page: %d", resp.StatusCode)
	}
	u, _ := url.Parse(owner.Base)
	var login string
	for _, c := range owner.Client.Jar.Cookies(u) {
		if c.Name == "xmpp_auth_login" {
			login = c.Value
		}
	}
	if login == "" {
		// The jar keeps path-scoped cookies under their path.
		u.Path = "/.xmpp-auth/"
		for _, c := range owner.Client.Jar.Cookies(u) {
			if c.Name == "xmpp_auth_login" {
				login = c.Value
			}
		}
	}
	if login == "" {
		t.Fatal("no login cookie")
	}
	thief.FormToken() // a pre-login cookie of its own
	resp, _ := thief.Do("POST", "/.xmpp-auth/wait", url.Values{"k": {owner.Secret}}, "Cookie", "xmpp_auth_login="+login)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("another browser holding the login cookie: %d, want 404", resp.StatusCode)
	}
	if _, state := thief.Do("POST", "/.xmpp-auth/status", url.Values{"k": {owner.Secret}}, "Cookie", "xmpp_auth_login="+login); !strings.Contains(state, `"gone"`) {
		t.Errorf("another browser polling with the login cookie: %s, want gone", state)
	}
}

func TestTheGatesOwnAddressCannotBeAsked(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	resp, body := s.browser().Submit("someone@auth.localhost", "/")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("form: %d\n%s", resp.StatusCode, body)
	}
	c := newAPIClient(s, false)
	if resp, body := c.Send("GET", "/", basicAuth("someone@auth.localhost/r", "tx1")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("Basic: %d %s", resp.StatusCode, body)
	}
}
