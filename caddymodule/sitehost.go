package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Without site_name, the XMPP message names the site by the request's
// Host, and its <confirm/> carries a URL on that host. On a site that
// answers every host (":80 { xmpp_auth }"), the Host is whatever the
// visitor sent: anyone could have a person asked to log in to
// "bank.example". So a login names the host only when a host matcher of
// the server names it (login.Env.HostNamed); otherwise the gate refuses
// it, and tells the operator once to set site_name.

// siteHosts are the host matchers of the server's routes, read when the
// handler is provisioned (Caddy provisions matchers before handlers).
type siteHosts struct {
	matchers []caddyhttp.MatchHost
}

func newSiteHosts(ctx caddy.Context) *siteHosts {
	sh := &siteHosts{}
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok {
		return sh
	}
	for _, route := range srv.Routes {
		for _, set := range route.MatcherSets {
			for _, m := range set {
				switch mh := m.(type) {
				case caddyhttp.MatchHost:
					sh.matchers = append(sh.matchers, mh)
				case *caddyhttp.MatchHost:
					sh.matchers = append(sh.matchers, *mh)
				}
			}
		}
	}
	return sh
}

// names reports whether r's Host is one a host matcher of the server
// names.
func (sh *siteHosts) names(r *http.Request) bool {
	for _, m := range sh.matchers {
		if ok, err := m.MatchWithError(r); err == nil && ok {
			return true
		}
	}
	return false
}
