package caddymodule

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

func basicHeaderOf(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestBasicCredentialsAreParsedAsXEP0070Says(t *testing.T) {
	good := []struct {
		name, header, jid, txid string
	}{
		{"bare JID", basicHeaderOf("alice@example.org:a7374jnjlalasdf82"), "alice@example.org", "a7374jnjlalasdf82"},
		{"full JID", basicHeaderOf("alice@example.org/phone:tx1"), "alice@example.org/phone", "tx1"},
		{"non-ASCII percent-encoded", basicHeaderOf("%C3%A9lodie@example.org:caf%C3%A9"), "élodie@example.org", "café"},
		{"raw UTF-8 accepted too", basicHeaderOf("élodie@example.org:tx"), "élodie@example.org", "tx"},
		{"colon in the resource, encoded", basicHeaderOf("alice@example.org/a%3Ab:tx"), "alice@example.org/a:b", "tx"},
		{"colons in the password", basicHeaderOf("alice@example.org:a:b:c"), "alice@example.org", "a:b:c"},
		{"scheme in any case, no padding", "bAsIc " + base64.RawStdEncoding.EncodeToString([]byte("alice@example.org:tx")), "alice@example.org", "tx"},
		{"domain in upper case is folded", basicHeaderOf("alice@EXAMPLE.org:tx"), "alice@example.org", "tx"},
		{"64-byte id", basicHeaderOf("alice@example.org:" + strings.Repeat("x", 64)), "alice@example.org", strings.Repeat("x", 64)},
		{"spaces inside the id", basicHeaderOf("alice@example.org:open sesame"), "alice@example.org", "open sesame"},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			cred, ok, err := parseBasicAuthorization(http.Header{"Authorization": {tt.header}})
			if !ok || err != nil {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if cred.jid.String() != tt.jid || cred.txid != tt.txid {
				t.Errorf("got %q %q", cred.jid, cred.txid)
			}
		})
	}

	for _, h := range []http.Header{{}, {"Authorization": {"Bearer abc"}}, {"Authorization": {"Digest username=\"a\""}}} {
		if _, ok, _ := parseBasicAuthorization(h); ok {
			t.Errorf("%v read as Basic credentials", h)
		}
	}

	bad := []struct {
		name   string
		header []string
		says   string
	}{
		{"bad base64", []string{"Basic !!!not-base64"}, "Base64"},
		{"empty credentials", []string{"Basic "}, "empty"},
		{"no colon", []string{basicHeaderOf("alice@example.org")}, `no ":"`},
		{"empty user", []string{basicHeaderOf(":tx")}, "empty JID"},
		{"empty password", []string{basicHeaderOf("alice@example.org:")}, "empty transaction id"},
		{"bad percent in the JID", []string{basicHeaderOf("al%zzice@example.org:tx")}, "percent-encoded"},
		{"bad percent in the id", []string{basicHeaderOf("alice@example.org:50%off")}, "percent-encoded"},
		{"not UTF-8 once decoded", []string{basicHeaderOf("%E9lodie@example.org:tx")}, "UTF-8"},
		{"raw Latin-1", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("\xe9lodie@example.org:tx"))}, "UTF-8"},
		{"not a JID", []string{basicHeaderOf("alice@@example.org:tx")}, "not a JID"},
		{"spaces in the JID", []string{basicHeaderOf("alice smith@example.org:tx")}, "not a JID"},
		{"domain only", []string{basicHeaderOf("example.org:tx")}, "no local part"},
		{"JID too long", []string{basicHeaderOf(strings.Repeat("a", 600) + "@example.org:tx")}, "JID"},
		{"id too long", []string{basicHeaderOf("alice@example.org:" + strings.Repeat("x", 65))}, "longer than 64"},
		{"newline in the id", []string{basicHeaderOf("alice@example.org:a\nb")}, "control"},
		{"encoded newline in the id", []string{basicHeaderOf("alice@example.org:a%0Ab")}, "control"},
		{"DEL in the id", []string{basicHeaderOf("alice@example.org:a\x7fb")}, "control"},
		{"id that reads as a refusal", []string{basicHeaderOf("alice@example.org:No.")}, "refusal"},
		{"two headers", []string{basicHeaderOf("alice@example.org:a"), basicHeaderOf("alice@example.org:b")}, "more than one"},
		{"huge header", []string{"Basic " + strings.Repeat("QUFB", 5<<10)}, "too long"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := parseBasicAuthorization(http.Header{"Authorization": tt.header})
			if !ok || err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("ok=%v err=%v, want an error saying %q", ok, err, tt.says)
			}
		})
	}
}

func TestBadBasicCredentialsGetAShort400(t *testing.T) {
	h := &Handler{UserHeader: "X-Forwarded-User", CookieName: "xmpp_auth", logger: zap.NewNop()}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("a request with bad credentials reached the next handler")
		return nil
	})
	for _, creds := range []string{"Basic %%%", basicHeaderOf("alice@example.org"), basicHeaderOf(":tx"),
		basicHeaderOf("alice@example.org:"), basicHeaderOf("%zz@example.org:tx"), basicHeaderOf("not a jid:tx"),
		// Ids that a person typing them back would send as a refusal.
		basicHeaderOf("alice@example.org:non"), basicHeaderOf("alice@example.org:No!"), basicHeaderOf("alice@example.org:noXYZ"),
		basicHeaderOf("alice@example.org:ab%E2%80%AEcd")} {
		for _, accept := range []string{"application/json", "text/html"} {
			r := httptest.NewRequest("GET", "/api", nil)
			r.Header.Set("Authorization", creds)
			r.Header.Set("Accept", accept)
			r.Header.Set("X-Forwarded-User", "admin@example.org")
			w := httptest.NewRecorder()
			done, err := h.serveWithoutSession(w, r, next)
			if !done || err != nil {
				t.Fatalf("%s: done=%v err=%v", creds, done, err)
			}
			body := w.Body.String()
			if w.Code != http.StatusBadRequest || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" ||
				!strings.HasPrefix(body, "400 Bad Request: ") || len(body) > 200 || strings.Contains(body, "<") {
				t.Errorf("%s: %d %q %q", creds, w.Code, w.Header().Get("Content-Type"), body)
			}
			if r.Header.Get("X-Forwarded-User") != "" {
				t.Errorf("%s: the forged user header survived", creds)
			}
		}
	}
}

func TestPreflightsAndUpgradesAreRecognised(t *testing.T) {
	req := func(method string, hdr ...string) *http.Request {
		r := httptest.NewRequest(method, "/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	preflights := []struct {
		r    *http.Request
		want bool
	}{
		{req("OPTIONS", "Origin", "https://app.example", "Access-Control-Request-Method", "PUT"), true},
		{req("OPTIONS", "Origin", "https://app.example"), false},
		{req("OPTIONS", "Access-Control-Request-Method", "PUT"), false},
		{req("OPTIONS", "Origin", "https://app.example", "Access-Control-Request-Method", "PUT", "Authorization", "Basic eA=="), false},
		{req("GET", "Origin", "https://app.example", "Access-Control-Request-Method", "PUT"), false},
	}
	for i, tt := range preflights {
		if got := isCORSPreflight(tt.r); got != tt.want {
			t.Errorf("preflight %d: %v", i, got)
		}
	}
	h2 := req("CONNECT", ":protocol", "websocket")
	h2.ProtoMajor = 2
	upgrades := []struct {
		r    *http.Request
		want bool
	}{
		{req("GET", "Connection", "Upgrade", "Upgrade", "websocket"), true},
		{req("GET", "Connection", "keep-alive, upgrade", "Upgrade", "websocket"), true},
		{req("GET", "Connection", "keep-alive", "Connection", "Upgrade", "Upgrade", "websocket"), true},
		{req("GET", "Upgrade", "websocket"), false},
		{req("GET", "Connection", "Upgrade"), false},
		{req("GET", "Connection", "upgraded", "Upgrade", "websocket"), false},
		{h2, true},
		{req("GET"), false},
	}
	for i, tt := range upgrades {
		if got := isUpgradeRequest(tt.r); got != tt.want {
			t.Errorf("upgrade %d: %v", i, got)
		}
	}
}

func TestBasicStateSpendsEachTransactionOnce(t *testing.T) {
	now := time.Unix(1e9, 0)
	key := basicKey{bare: "alice@example.org", txid: "tx1"}
	get := basicIdentity{full: "alice@example.org", method: "GET", url: "http://s/a", site: "s", ip: "192.0.2.1"}
	head := get
	head.method = "HEAD"
	nop := func() {}
	ok := func() error { return nil }
	approved := xepauth.Outcome{Result: xepauth.Approved}

	t.Run("asked, then spent whatever the outcome", func(t *testing.T) {
		for _, o := range []xepauth.Outcome{approved, {Result: xepauth.Denied}, {Result: xepauth.Timeout}, {Result: xepauth.Unreachable}} {
			var s basicState
			c, v, _ := s.admit(key, get, now, nop, ok)
			if v != basicAsk {
				t.Fatalf("first: %v", v)
			}
			s.finish(key, c, o, now, 4*time.Minute)
			if _, v, _ := s.admit(key, get, now.Add(time.Second), nop, ok); v != basicReused {
				t.Errorf("%v, then the same again: %v", o.Result, v)
			}
			if _, v, _ := s.admit(key, get, now.Add(4*time.Minute-time.Second), nop, ok); v != basicReused {
				t.Errorf("%v, then the same just before expiry: %v", o.Result, v)
			}
			if _, v, _ := s.admit(key, get, now.Add(4*time.Minute+time.Second), nop, ok); v != basicAsk {
				t.Errorf("%v, then the same after expiry: %v", o.Result, v)
			}
		}
	})
	t.Run("a HEAD carries over once, from the same client and site", func(t *testing.T) {
		var s basicState
		c, _, _ := s.admit(key, head, now, nop, ok)
		s.finish(key, c, approved, now, 4*time.Minute)
		other := get
		other.ip = "192.0.2.2"
		if _, v, _ := s.admit(key, other, now.Add(time.Second), nop, ok); v != basicReused {
			t.Errorf("from another IP: %v", v)
		}
		other = get
		other.site = "t"
		if _, v, _ := s.admit(key, other, now.Add(time.Second), nop, ok); v != basicReused {
			t.Errorf("on another site: %v", v)
		}
		if _, v, _ := s.admit(key, get, now.Add(time.Second), nop, ok); v != basicCarried {
			t.Errorf("GET after HEAD: %v", v)
		}
		if _, v, _ := s.admit(key, get, now.Add(2*time.Second), nop, ok); v != basicReused {
			t.Errorf("a second GET after HEAD: %v", v)
		}
	})
	t.Run("the carry-over ends", func(t *testing.T) {
		var s basicState
		c, _, _ := s.admit(key, head, now, nop, ok)
		s.finish(key, c, approved, now, 4*time.Minute)
		if _, v, _ := s.admit(key, get, now.Add(basicCarryOver+time.Second), nop, ok); v != basicReused {
			t.Errorf("GET long after HEAD: %v", v)
		}
	})
	t.Run("a refused HEAD carries nothing over", func(t *testing.T) {
		var s basicState
		c, _, _ := s.admit(key, head, now, nop, ok)
		s.finish(key, c, xepauth.Outcome{Result: xepauth.Denied}, now, 4*time.Minute)
		if _, v, _ := s.admit(key, get, now.Add(time.Second), nop, ok); v != basicReused {
			t.Errorf("GET after a denied HEAD: %v", v)
		}
	})
	t.Run("identical requests share one ask; others are refused", func(t *testing.T) {
		var s basicState
		c, _, _ := s.admit(key, get, now, nop, ok)
		for i := 1; i < basicMaxWaiters; i++ {
			if c2, v, _ := s.admit(key, get, now, nop, ok); v != basicJoined || c2 != c {
				t.Fatalf("identical request %d: %v", i, v)
			}
		}
		if _, v, _ := s.admit(key, get, now, nop, ok); v != basicCrowded {
			t.Errorf("one waiter too many: %v", v)
		}
		post := get
		post.method = "POST"
		if _, v, _ := s.admit(key, post, now, nop, ok); v != basicInUse {
			t.Errorf("another method with the same id: %v", v)
		}
		s.finish(key, c, approved, now, time.Minute)
		select {
		case <-c.done:
		default:
			t.Fatal("waiters not woken")
		}
		if c.outcome.Result != xepauth.Approved {
			t.Errorf("outcome %v", c.outcome.Result)
		}
	})
	t.Run("the last waiter to leave ends the ask", func(t *testing.T) {
		var s basicState
		ctx, cancel := context.WithCancel(context.Background())
		c, _, _ := s.admit(key, get, now, cancel, ok)
		_, _, _ = s.admit(key, get, now, nop, ok)
		s.leave(c)
		if ctx.Err() != nil {
			t.Fatal("ended with a waiter left")
		}
		s.leave(c)
		if ctx.Err() == nil {
			t.Fatal("not ended when the last waiter left")
		}
	})
	t.Run("a limit refuses without remembering", func(t *testing.T) {
		var s basicState
		if _, v, err := s.admit(key, get, now, nop, func() error { return errTooManyForJID }); v != basicLimited || err != errTooManyForJID {
			t.Fatalf("%v %v", v, err)
		}
		if _, v, _ := s.admit(key, get, now, nop, ok); v != basicAsk {
			t.Errorf("after the limit: %v", v)
		}
	})
	t.Run("memory is bounded and expired ids are swept", func(t *testing.T) {
		var s basicState
		_, _, _ = s.admit(key, get, now, nop, ok) // makes the maps
		for i := range basicMaxEntries {
			s.spent[basicKey{bare: "b@x", txid: strconv.Itoa(i)}] = &basicSpent{expires: now.Add(time.Minute)}
		}
		if _, v, _ := s.admit(basicKey{bare: "c@x", txid: "new"}, get, now, nop, ok); v != basicFull {
			t.Errorf("when full: %v", v)
		}
		if _, v, _ := s.admit(basicKey{bare: "c@x", txid: "new"}, get, now.Add(2*time.Minute), nop, ok); v != basicAsk {
			t.Errorf("once the ids expired: %v", v)
		}
		if n := len(s.spent); n != 0 {
			t.Errorf("%d spent ids left after the sweep", n)
		}
	})
}
