package login

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	g := testGate(t, testService(t, nil, nil), Config{}, Env{})
	next := HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("a request with bad credentials reached the next handler")
		return nil
	})
	for _, creds := range []string{"Basic %%%", basicHeaderOf("alice@example.org"), basicHeaderOf(":tx"),
		basicHeaderOf("alice@example.org:"), basicHeaderOf("%zz@example.org:tx"), basicHeaderOf("not a jid:tx"),
		// Ids that a person typing them back would send as a refusal.
		basicHeaderOf("alice@example.org:non"), basicHeaderOf("alice@example.org:No!"), basicHeaderOf("alice@example.org:noXYZ"),
		basicHeaderOf("alice@example.org:ab%E2%80%AEcd"),
		// Names a server could read as another account's.
		basicHeaderOf("ali%C3%9F@example.org:tx"), basicHeaderOf("alice@example.org..:tx")} {
		for _, accept := range []string{"application/json", "text/html"} {
			r := httptest.NewRequest("GET", "/api", nil)
			r.Header.Set("Authorization", creds)
			r.Header.Set("Accept", accept)
			r.Header.Set("X-Forwarded-User", "admin@example.org")
			w := httptest.NewRecorder()
			err := g.ServeHTTP(w, r, next)
			var se *StatusError
			if !errors.As(err, &se) || se.Status != http.StatusBadRequest || len(se.Error()) > 200 || w.Body.Len() != 0 {
				t.Errorf("%s: %v, body %q", creds, err, w.Body.String())
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

// basicRequest is an API client's request with Basic credentials.
func basicRequest(userPass string) *http.Request {
	r := httptest.NewRequest("GET", "http://127.0.0.1/api", nil)
	r.Header.Set("Authorization", basicHeaderOf(userPass))
	r.Header.Set("Accept", "application/json")
	return r
}

func TestABasicLoginNeverAsksAnAddressItRefuses(t *testing.T) {
	notNamed := Env{HostNamed: func(*http.Request) bool { return false }}
	for _, tt := range []struct {
		name   string
		user   string
		cfg    Config
		env    Env
		status int
		down   bool
	}{
		{"the gate's own address", "someone@auth.example.org", Config{}, Env{}, http.StatusBadRequest, false},
		{"a server named by its IP address", "alice@192.0.2.1", Config{}, Env{}, http.StatusBadRequest, false},
		{"a denied address", "mallory@example.org", Config{Deny: []string{"mallory@example.org"}}, Env{}, http.StatusForbidden, false},
		{"an address outside the allow list", "mallory@example.net", Config{Allow: []string{"example.org"}}, Env{}, http.StatusForbidden, false},
		{"a host no matcher names", "alice@example.org", Config{}, notNamed, http.StatusMisdirectedRequest, false},
		{"while the XMPP server is down", "alice@example.org", Config{}, Env{}, http.StatusServiceUnavailable, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asker := &fakeAsker{down: tt.down, outcome: xepauth.Outcome{Result: xepauth.Approved}, asked: make(chan xepauth.Request, 1)}
			g := testGate(t, testService(t, asker, nil), tt.cfg, tt.env)
			w := httptest.NewRecorder()
			err := g.ServeHTTP(w, basicRequest(tt.user+":tx1"), HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				t.Error("the request reached the upstream")
				return nil
			}))
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tt.status {
				t.Errorf("got %v, want status %d", err, tt.status)
			}
			if len(asker.asked) != 0 {
				t.Errorf("%s was asked", (<-asker.asked).JID)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
		})
	}
}

func TestAnApprovedBasicRequestReachesTheUpstreamAsTheJIDWithoutItsCredentials(t *testing.T) {
	asker := &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Approved}}
	g := testGate(t, testService(t, asker, nil), Config{}, Env{})
	w := httptest.NewRecorder()
	reached := false
	err := g.ServeHTTP(w, basicRequest("alice@example.org/laptop:tx1"), HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		reached = true
		if v := r.Header.Get("Authorization"); v != "" {
			t.Errorf("the upstream got the credentials: %q", v)
		}
		if v := r.Header.Get("X-Forwarded-User"); v != "alice@example.org" {
			t.Errorf("the upstream got the user %q", v)
		}
		return nil
	}))
	if err != nil || !reached {
		t.Fatalf("err %v, reached %v", err, reached)
	}
	if !strings.Contains(w.Header().Get("Set-Cookie"), "xmpp_auth=") {
		t.Errorf("no session cookie for the next requests: %q", w.Header().Get("Set-Cookie"))
	}
}

func TestEndedBasicLoginsGiveBackEveryLimit(t *testing.T) {
	svc := testService(t, &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Denied}}, nil)
	lim := DefaultLimits
	lim.MaxOpen, lim.PerJIDOpen, lim.PerJIDWindow, lim.PerIPWindow = 1, 1, 1000, 1000
	svc.Commit(lim, nil, 0)
	g := testGate(t, svc, Config{}, Env{})
	// Many more logins in the life of the process than max_pending, one
	// after the other: each gives its place back when it ends.
	for i := range 10 {
		err := g.ServeHTTP(httptest.NewRecorder(), basicRequest(fmt.Sprintf("alice@example.org:tx%d", i)), HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			t.Error("a denied request reached the upstream")
			return nil
		}))
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusForbidden {
			t.Fatalf("Basic login %d with max_pending 1: %v, want the denial", i, err)
		}
	}
	if n := svc.Pending(); n != 0 {
		t.Errorf("%d logins still count as pending", n)
	}
}

// A browser answers the Basic challenge with its password dialog, and what
// a person types there would go to their XMPP account as the code.
func TestABrowserScriptWhoseBasicLoginFailedGetsNoPasswordDialog(t *testing.T) {
	g := testGate(t, testService(t, &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Timeout}}, nil), Config{}, Env{})
	r := basicRequest("alice@example.org:tx1")
	r.Header.Set("Sec-Fetch-Mode", "cors")
	w := httptest.NewRecorder()
	err := g.ServeHTTP(w, r, HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("the request reached the upstream")
		return nil
	}))
	if got := w.Header().Get("WWW-Authenticate"); got != "" {
		t.Errorf("a browser's script got the challenge %q", got)
	}
	var se *StatusError
	if w.Code != http.StatusUnauthorized && (!errors.As(err, &se) || se.Status != http.StatusUnauthorized) {
		t.Errorf("answer %d, err %v, want 401", w.Code, err)
	}
}
