package caddymodule_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// The waiting page holds a long poll open, so it learns the outcome as soon
// as the answer reaches Caddy rather than at the next periodic check.
func TestTheWaitingPageLearnsTheOutcomeWithin100ms(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	var took []time.Duration
	for range 5 {
		b := s.browser()
		if resp, body := b.submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("waiting page: %d\n%s", resp.StatusCode, body)
		}
		req, err := alice.NextRequest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		polled := make(chan time.Time, 1)
		go func() {
			_, state := b.do("GET", "/.xmpp-auth/status", nil)
			if state != "{\"state\":\"approved\"}\n" {
				t.Errorf("status answered %q", state)
			}
			polled <- time.Now()
		}()
		time.Sleep(200 * time.Millisecond) // the poll is now held open
		sent := time.Now()
		approve(t, alice, req)
		took = append(took, (<-polled).Sub(sent))
	}
	slices.Sort(took)
	t.Logf("from the answer leaving the XMPP client to the page knowing it: %v (median %v)", took, took[len(took)/2])
	if took[len(took)/2] > 100*time.Millisecond {
		t.Errorf("median %v, want at most 100ms", took[len(took)/2])
	}
}

func TestLimitsFromTheConfigApply(t *testing.T) {
	s := newSite(t)
	var cfg map[string]any
	if err := jsonUnmarshal(s.config(options{}), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["apps"].(map[string]any)["xmpp_auth"].(map[string]any)["limits"] = map[string]any{"jid_open": 1}
	if err := caddyLoad(jsonMarshal(t, cfg)); err != nil {
		t.Fatal(err)
	}
	s.p.NewUser(t, "alice", xmpptest.Silent)
	if resp, _ := s.browser().submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	if resp, _ := s.browser().submit("alice@localhost", "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second open login with jid_open 1: %d", resp.StatusCode)
	}
}
