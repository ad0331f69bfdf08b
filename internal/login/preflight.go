package login

import (
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// A CORS preflight is an OPTIONS request that a browser sends, without
// credentials, before a cross-origin call. Anyone can send a request of
// that shape, so by default one without a session gets the gate's 401,
// with no CORS headers: the browser then refuses the real call, which is
// right, since there is no session to make it with. With pass_preflight
// the upstream answers it, and gets no more than a preflight is: the path,
// without query string or body, the headers a browser sends with a
// preflight and no other, never an upgrade; and only the CORS part of its
// answer comes back. An error of the upstream is answered 502 by the gate
// itself, never by the server's error routes.

// isCORSPreflight tells a CORS preflight: the browser asks whether the
// real request may be sent, and sends no credentials with it.
func isCORSPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != "" &&
		len(r.Header.Values("Authorization")) == 0
}

// servePreflight answers a preflight without a session.
func (g *Gate) servePreflight(w http.ResponseWriter, r *http.Request, next Handler) error {
	if !g.cfg.PassPreflight || isUpgradeRequest(r) {
		return g.scriptUnauthorized(w)
	}
	// A preflight carries no credentials, and the upstream must get
	// nothing it could act on: no body, no upgrade, and only the headers a
	// browser sends with a preflight, none of which a framework reads as a
	// credential, another method or another path. The request is changed
	// in place, since what comes after the gate reads this very request:
	// the handlers, the server's placeholders ({query}, request headers)
	// and its error routes. (Caddy hands handlers a copy of the request of
	// the connection, and so does Serve.)
	for name := range r.Header {
		if !preflightRequestHeader(name) {
			delete(r.Header, name)
		}
	}
	r.URL.RawQuery = ""
	r.URL.ForceQuery = false
	r.RequestURI = r.URL.RequestURI()
	r.Body = http.NoBody
	r.ContentLength = 0
	r.TransferEncoding = nil
	r.Trailer = nil
	g.env.ScrubCopies(r)
	pw := &preflightWriter{w: w}
	if err := next.ServeHTTP(pw, r); err != nil {
		// Not returned: the server's error routes (handle_errors) would
		// answer with the real writer, body and all, and could hand the
		// request on to where a session is trusted.
		g.log.Debug("the upstream failed a passed preflight", zap.Error(err))
		if !pw.wrote {
			pw.WriteHeader(http.StatusBadGateway)
		}
	}
	return nil
}

// preflightWriter passes on only what a preflight answer is: a final
// status and the headers that govern CORS. An upstream that does not look
// at the method (a file server, a legacy PHP script) would answer with the
// page itself, which must not get out. It offers no way to the connection
// underneath (no Unwrap, no Hijack, no Flush), so that no handler can turn
// the exchange into a tunnel.
type preflightWriter struct {
	w     http.ResponseWriter
	wrote bool
}

// Header implements http.ResponseWriter.
func (p *preflightWriter) Header() http.Header { return p.w.Header() }

// WriteHeader implements http.ResponseWriter. 101 Switching Protocols is
// no answer to a preflight: it becomes 502. Other informational answers
// (103 Early Hints) are dropped, and the final one awaited.
func (p *preflightWriter) WriteHeader(status int) {
	if p.wrote || status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		return
	}
	p.wrote = true
	h := p.w.Header()
	for k := range h {
		if !preflightHeader(k) {
			delete(h, k)
		}
	}
	if status < 200 {
		status = http.StatusBadGateway
	}
	h.Set("Content-Length", "0")
	p.w.WriteHeader(status)
}

// Write discards the body: a preflight answer has none worth passing.
func (p *preflightWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// preflightRequestHeader tells the request headers a passed preflight
// keeps: those a browser sends with one (Fetch standard, "CORS-preflight
// request").
func preflightRequestHeader(name string) bool {
	switch k := http.CanonicalHeaderKey(name); {
	case strings.HasPrefix(k, "Access-Control-Request-"), strings.HasPrefix(k, "Sec-Fetch-"):
		return true
	case k == "Origin" || k == "Accept" || k == "Accept-Language" || k == "Accept-Encoding" ||
		k == "User-Agent" || k == "Referer" || k == "Cache-Control" || k == "Pragma":
		return true
	}
	return false
}

// preflightHeader tells the response headers a preflight's answer keeps.
func preflightHeader(name string) bool {
	switch k := http.CanonicalHeaderKey(name); {
	case strings.HasPrefix(k, "Access-Control-"):
		return true
	case k == "Vary" || k == "Allow" || k == "Date" || k == "Server":
		return true
	}
	return false
}
