package caddymodule

import (
	"context"
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// newEnv is what Caddy provides a gate or the API with: the client IP as
// the server settles it, the URL before rewrites, {http.auth.user.id},
// the server's host matchers, metrics and the logger.
func newEnv(ctx caddy.Context, m *metrics) login.Env {
	log := ctx.Logger()
	proxies := new(nonStrictProxies)
	hosts := newSiteHosts(ctx)
	return login.Env{
		ClientIP: func(r *http.Request) string {
			proxies.check(r, log)
			if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
				return ip
			}
			return remoteHost(r)
		},
		ClientIPHeaders: func(r *http.Request) []string {
			if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok {
				return srv.ClientIPHeaders
			}
			return nil
		},
		OriginalURL: func(r *http.Request) *url.URL {
			// Read in place: the copy in the context is a value.
			if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
				return orig.URL
			}
			return r.URL
		},
		ForgetQuery: func(r *http.Request) {
			orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
			if !ok || orig.URL == nil {
				return
			}
			u := *orig.URL
			u.RawQuery, u.ForceQuery = "", false
			orig.URL, orig.RequestURI = &u, u.RequestURI()
			// In place: the replacer reads placeholders through this very
			// request, and would not see a copy's context.
			*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, orig))
		},
		SetUser: func(r *http.Request, jid string) {
			if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
				repl.Set("http.auth.user.id", jid)
			}
		},
		HostNamed: hosts.names,
		Metrics:   m,
		Logger:    log,
	}
}
