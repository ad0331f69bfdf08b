package login

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

func TestDeleteHeaderRemovesEverySpellingABackendCouldRead(t *testing.T) {
	h := http.Header{
		"X-Forwarded-User": {"a"}, "X_Forwarded_User": {"b"}, "x-forwarded_user": {"c"},
		"X.Forwarded.User": {"d"}, "X Forwarded User": {"e"}, "x.forwarded_USER": {"f"},
		"X-Forwarded-Users": {"keep"}, "X-Forwarded-Use": {"keep"}, "Cookie": {"keep"},
	}
	deleteHeader(h, "X-Forwarded-User")
	want := http.Header{"X-Forwarded-Users": {"keep"}, "X-Forwarded-Use": {"keep"}, "Cookie": {"keep"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("left %v, want %v", h, want)
	}
}

func TestAConnectionTokenNamingTheUserHeaderCannotMakeTheProxyDropIt(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string // nil: no Connection header left
	}{
		{"alone", []string{"X-Forwarded-User"}, nil},
		{"another spelling", []string{"x_forwarded.user"}, nil},
		{"among others", []string{"keep-alive, X-Forwarded-User ,Upgrade"}, []string{"keep-alive, Upgrade"}},
		{"in a second line", []string{"keep-alive", "x-forwarded-user"}, []string{"keep-alive"}},
		{"untouched", []string{"Upgrade"}, []string{"Upgrade"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Connection": append([]string(nil), tt.in...)}
			deleteHeader(h, "X-Forwarded-User")
			if got := h["Connection"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Connection %q became %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTheUpstreamSeesOnlyTheGatesUserHeaderWhateverTheClientSent(t *testing.T) {
	g := testGate(t, testService(t, nil, nil), Config{}, Env{})
	now := time.Now()
	v, err := g.ring.Seal(session.Session{JID: "alice@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}, "wiki.example.org")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://wiki.example.org/page", nil)
	r.Header.Set("Cookie", "xmpp_auth="+v)
	for _, name := range []string{"X-Forwarded-User", "X_Forwarded_User", "X.Forwarded.User", "x-forwarded_user"} {
		r.Header[name] = []string{"admin@example.org"}
	}
	r.Header.Set("Connection", "keep-alive, X_Forwarded_User")
	var seen http.Header
	err = g.ServeHTTP(httptest.NewRecorder(), r, HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		return nil
	}))
	if err != nil || seen == nil {
		t.Fatalf("with a session: %v", err)
	}
	for name, v := range seen {
		if sameHeaderName(name, "X-Forwarded-User") && (name != "X-Forwarded-User" || len(v) != 1 || v[0] != "alice@example.org") {
			t.Errorf("the upstream got %s: %q", name, v)
		}
	}
	if got := seen.Get("Connection"); got != "keep-alive" {
		t.Errorf("Connection became %q", got)
	}
}
