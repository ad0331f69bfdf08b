package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A handler before the gate (tracing, timeouts) may hand on a copy of the
// request, while the placeholders still read the request Caddy made: the
// preflight's query and body must be gone from what they read too.
func TestScrubCopiesReachesThePlaceholdersOfARequestCopiedBeforeTheGate(t *testing.T) {
	r := httptest.NewRequest("OPTIONS", "http://127.0.0.1/api/items?token=SECRET", strings.NewReader("BODYDATA"))
	orig := *r
	u := *r.URL
	orig.URL = &u
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, orig))
	repl := caddyhttp.NewTestReplacer(r)
	copied := r.WithContext(r.Context()) // what tracing hands on
	copied.URL.RawQuery = ""             // the gate's own stripping
	copied.Body = http.NoBody

	scrubCopies(copied)

	for placeholder, want := range map[string]string{
		"http.request.orig_uri":       "/api/items",
		"http.request.orig_uri.query": "",
		"http.request.body":           "",
		"http.request.body_base64":    "",
		"http.request.uri.query":      "",
	} {
		if got, _ := repl.GetString(placeholder); got != want {
			t.Errorf("{%s} = %q, want %q", placeholder, got, want)
		}
	}
	if o, ok := copied.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); !ok || o.URL.RawQuery != "" || o.RequestURI != "/api/items" {
		t.Errorf("the original request in the copy's context: %+v", o.URL)
	}
}
