package login

import (
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// ipLiteralDomain reports whether an address's domain is an IP address
// rather than a name: in brackets (IPv6), or whose last label is a number
// (10.0.0.5, and also 127.1 or 2130706433, which resolvers read as IPv4),
// or a hexadecimal one (0x7f000001). Asking such an address makes the XMPP
// server open a connection to whatever host the visitor named.
func ipLiteralDomain(domain string) bool {
	if strings.HasPrefix(domain, "[") {
		return true
	}
	last := domain[strings.LastIndexByte(domain, '.')+1:]
	if hex, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return hex != "" && strings.Trim(hex, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// checkSpelling refuses an address that an XMPP server could read as
// another account than the gate does: one whose text jid.Parse spells
// otherwise, beyond letter case in the bare part (x followed by U+2F874
// parses as x当, while stringprep servers read it as x弳), and one with a
// code point that stringprep and PRECIS read differently (aliß, which
// stringprep servers read as aliss: xepauth.Unambiguous).
func checkSpelling(typed string, j jid.JID) error {
	bare, res, hasRes := strings.Cut(typed, "/")
	got := strings.ToLower(bare)
	if hasRes {
		got += "/" + res
	}
	if got != j.String() {
		return fmt.Errorf("%q reads as %q, and XMPP servers that use stringprep (RFC 6122) may read it as another address", typed, j.String())
	}
	return xepauth.Unambiguous(j)
}

// namesDomain reports whether the allow list names j's domain, as a domain
// or as the domain of a JID: the only way an IP-literal domain is allowed.
func (a access) namesDomain(j jid.JID) bool {
	d := j.Domainpart()
	if a.allow.domains[d] {
		return true
	}
	for bare := range a.allow.jids {
		if strings.HasSuffix(bare, "@"+d) {
			return true
		}
	}
	return false
}
