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
		ScrubCopies: scrubCopies,
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

// scrubCopies makes Caddy's own copies of r forget its query and body: the
// original request in the context (read by {http.request.orig_uri…} and
// the FastCGI transport), and the placeholders that read the request
// (the body ones, and orig_uri again), which read the request Caddy made
// when it came in, not r when a handler before the gate (tracing,
// timeouts) handed on a copy. Values set on the replacer take precedence
// over the ones it reads from the request.
func scrubCopies(r *http.Request) {
	origURI := r.URL.RequestURI() // the query is gone from r already
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		u := *orig.URL
		u.RawQuery, u.ForceQuery = "", false
		orig.URL, orig.RequestURI = &u, u.RequestURI()
		origURI = orig.RequestURI
		// In place: what comes after the gate reads this very request.
		*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, orig))
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		for k, v := range map[string]string{
			"http.request.orig_uri":                origURI,
			"http.request.orig_uri.query":          "",
			"http.request.orig_uri.prefixed_query": "",
			"http.request.body":                    "",
			"http.request.body_base64":             "",
		} {
			repl.Set(k, v)
		}
	}
}
