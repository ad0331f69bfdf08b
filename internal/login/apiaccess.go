package login

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
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
