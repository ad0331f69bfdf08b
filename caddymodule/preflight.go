package caddymodule

import (
	"net/http"
	"strings"
)

// preflightWriter lets the upstream answer a CORS preflight, but passes
// on only what a preflight answer is: the status and the headers that
// govern CORS. Anyone can send a request shaped like a preflight, and an
// upstream that does not look at the method (a file server, a legacy PHP
// script) would answer it with the page itself; that must not get out.
type preflightWriter struct {
	http.ResponseWriter
	wrote bool
}

// WriteHeader implements http.ResponseWriter.
func (p *preflightWriter) WriteHeader(status int) {
	if p.wrote {
		return
	}
	p.wrote = true
	h := p.ResponseWriter.Header()
	for k := range h {
		if !preflightHeader(k) {
			delete(h, k)
		}
	}
	if status >= 200 && status < 300 {
		h.Set("Content-Length", "0")
	}
	p.ResponseWriter.WriteHeader(status)
}

// Write discards the body: a preflight answer has none worth passing.
func (p *preflightWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// Unwrap lets http.ResponseController reach the real writer.
func (p *preflightWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

func preflightHeader(name string) bool {
	switch k := http.CanonicalHeaderKey(name); {
	case strings.HasPrefix(k, "Access-Control-"):
		return true
	case k == "Vary" || k == "Allow" || k == "Date" || k == "Server" || k == "Content-Length":
		return true
	}
	return false
}
