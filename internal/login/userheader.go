package login

import (
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
