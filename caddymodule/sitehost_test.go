package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestOnlyHostsAHostMatcherNamesNameASite(t *testing.T) {
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{
		{MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchHost{"wiki.example.org", "*.example.net"}}}},
		{MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchPath{"/api/*"}}}},
		{}, // a catch-all route
	}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.WithValue(context.Background(), caddyhttp.ServerCtxKey, srv)})
	defer cancel()
	hosts := newSiteHosts(ctx)
	for host, want := range map[string]bool{
		"wiki.example.org": true, "WIKI.example.org:8443": true, "git.example.net": true,
		"bank.example": false, "example.net": false, "a.b.example.net": false, "127.0.0.1": false,
	} {
		r := httptest.NewRequest("GET", "http://"+host+"/", nil)
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), httptest.NewRecorder(), srv)
		if got := hosts.names(r); got != want {
			t.Errorf("%s: named %v, want %v", host, got, want)
		}
	}
	ctx2, cancel2 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel2()
	if newSiteHosts(ctx2).names(httptest.NewRequest("GET", "http://wiki.example.org/", nil)) {
		t.Error("a handler outside any server names a host")
	}
}
