package login

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
		basicHeaderOf("alice@example.org:ab%E2%80%AEcd")} {
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
