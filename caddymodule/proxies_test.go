package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestANonStrictTrustedProxyIsWarnedOfOnce(t *testing.T) {
	request := func(srv *caddyhttp.Server, trusted bool) *http.Request {
		r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/", nil), caddy.NewReplacer(), httptest.NewRecorder(), srv)
		caddyhttp.SetVar(r.Context(), caddyhttp.TrustedProxyVarKey, trusted)
		return r
	}
	for _, tt := range []struct {
		name    string
		strict  int
		trusted bool
		warns   int
	}{
		{"trusted, not strict", 0, true, 1},
		{"trusted and strict", 1, true, 0},
		{"not through a trusted proxy", 0, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			n := new(nonStrictProxies)
			srv := &caddyhttp.Server{TrustedProxiesStrict: tt.strict}
			for range 3 {
				n.check(request(srv, tt.trusted), zap.New(core))
			}
			if got := logs.FilterMessageSnippet("trusts proxies non-strictly").Len(); got != tt.warns {
				t.Errorf("%d warnings, want %d", got, tt.warns)
			}
		})
	}
}
