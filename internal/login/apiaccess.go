package login

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseNetwork reads a CIDR or a single address, as allow_from takes them.
func ParseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (like 10.0.0.0/8): %v", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a network (like 10.0.0.0/8)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// admitsCaller reports whether the caller may use the API: the token, when
// one is configured, and the network, when a list applies.
func (a *API) admitsCaller(r *http.Request) (bool, string) {
	if a.token != nil {
		got, ok := bearerToken(r.Header)
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], a.token) != 1 {
			return false, "a valid Authorization: Bearer token is required"
		}
	}
	if a.networks == nil {
		return true, ""
	}
	for _, ip := range a.callerAddresses(r) {
		if !inNetworks(ip, a.networks) {
			return false, "this API only answers callers from the allowed networks (the connection and every address of its forwarding headers)"
		}
	}
	return true, ""
}

// callerAddresses are every address the caller of r could be: the TCP
// peer, the client IP the server settled on, and every address of the
// forwarding headers. Each must be allowed, since none alone can be
// trusted: behind a proxy that Caddy does not trust, the peer is the
// proxy, and the client is only named in X-Forwarded-For; behind one it
// trusts without trusted_proxies_strict, Caddy takes the leftmost address
// of X-Forwarded-For, which the client wrote itself, while the proxy
// appended the real one.
func (a *API) callerAddresses(r *http.Request) []string {
	out := []string{remoteHost(r), a.env.ClientIP(r)}
	headers := append([]string{"X-Forwarded-For", "X-Real-Ip"}, a.env.ClientIPHeaders(r)...)
	for _, name := range headers {
		for _, v := range r.Header.Values(name) {
			for _, a := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(a))
			}
		}
	}
	return append(out, forwardedFor(r.Header.Values("Forwarded"))...)
}

// forwardedFor reads the for= addresses of Forwarded headers (RFC 7239
// §4): "for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\"". An address
// that is a name, "unknown" or an obfuscated one ("_hidden") is returned as
// it is, and then allowed by no network: a proxy that hides its client
// hides it from the API too.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				if host, _, err := net.SplitHostPort(val); err == nil {
					val = host
				}
				out = append(out, strings.Trim(val, "[]"))
			}
		}
	}
	return out
}

// inNetworks reports whether ip (an IPv4-mapped IPv6 address counts as
// IPv4) lies in one of nets.
func inNetworks(ip string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// bearerToken returns the token of the one "Authorization: Bearer" header.
func bearerToken(hdr http.Header) (string, bool) {
	values := hdr.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	tok = strings.TrimSpace(tok)
	return tok, strings.EqualFold(scheme, "Bearer") && tok != ""
}
