package caddymodule

import (
	"net"
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// nonStrictProxies warns, once per handler, that the server trusts
// proxies without trusted_proxies_strict: Caddy then takes the leftmost
// address of X-Forwarded-For as the client's, an address the client
// wrote itself. The limits count logins by that address, and the /auth
// API's network check reads it. Caddy's config of trusted proxies is not
// visible when a handler is provisioned (it is consumed before), so the
// first request that came through a trusted proxy tells.
type nonStrictProxies struct{ warned atomic.Bool }

func (n *nonStrictProxies) check(r *http.Request, log *zap.Logger) {
	if n.warned.Load() {
		return
	}
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !trusted || !ok || srv.TrustedProxiesStrict > 0 || !n.warned.CompareAndSwap(false, true) {
		return
	}
	log.Warn("this server trusts proxies non-strictly: a client can choose the address Caddy sees for it by sending "+
		"X-Forwarded-For itself, and the login limits go by that address; set trusted_proxies_strict in the server's options",
		zap.String("remote_ip", r.RemoteAddr))
}

// remoteHost is the address of the TCP peer.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
