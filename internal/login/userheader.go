package login

import (
	"io"
	"net/http"
	"strings"
)

// The user header is the one thing the upstream trusts, so no spelling of
// it that the client sent may survive, and nothing the client sent may
// make a proxy drop the gate's own copy.

// deleteHeader removes every header a backend could read as name, and
// every Connection token naming one of them.
//
// Spellings: CGI and FastCGI (php_fastcgi) turn "X-Forwarded-User",
// "X_Forwarded_User" and "X.Forwarded.User" alike into
// HTTP_X_FORWARDED_USER, and PHP folds spaces and dots in variable names
// to underscores. Caddy drops header names with "_" or "." unless a
// server lists them in expected_underscore_headers or
// expected_dot_headers, so the gate cannot rely on that.
//
// Connection: a header named in Connection is hop-by-hop, and
// reverse_proxy removes it before the request goes upstream (RFC 9110
// §7.6.1). A client sending "Connection: X-Forwarded-User" would have
// the proxy drop the header the gate set, and the upstream would see no
// user, or fall back to something else it trusts.
func deleteHeader(h http.Header, name string) {
	for k := range h {
		if sameHeaderName(k, name) {
			delete(h, k)
		}
	}
	conn := h["Connection"]
	if len(conn) == 0 {
		return
	}
	kept := conn[:0]
	for _, v := range conn {
		var toks []string
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !sameHeaderName(tok, name) {
				toks = append(toks, tok)
			}
		}
		if len(toks) > 0 {
			kept = append(kept, strings.Join(toks, ", "))
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = kept
}

// scrubTrailers removes the user header, in every spelling, from r's
// trailers, which arrive after the body: a backend that merges trailers
// into its headers (Apache's MergeTrailers, Tomcat's allowed trailer
// headers) would read a client's trailer named so as the header. They are
// removed as the body ends, before the proxy passes them on.
func scrubTrailers(r *http.Request, name string) {
	deleteHeader(r.Trailer, name)
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &trailerScrubber{ReadCloser: r.Body, r: r, name: name}
}

// trailerScrubber is a request body that scrubs the request's trailers
// once it has been read to its end: net/http fills them in then.
type trailerScrubber struct {
	io.ReadCloser
	r    *http.Request
	name string
}

func (t *trailerScrubber) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err == io.EOF {
		deleteHeader(t.r.Trailer, t.name)
	}
	return n, err
}

// sameHeaderName reports whether a and b name the same header for a
// backend that folds case and reads "_", "." and " " as "-".
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case c == '_' || c == '.' || c == ' ':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}
