package caddymodule

import (
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"
)

// allowList says who may log in: bare JIDs and whole domains, compared
// after the same normalisation JIDs get when they are parsed.
type allowList struct {
	jids    map[string]bool
	domains map[string]bool
}

func parseAllowList(entries []string) (allowList, error) {
	var l allowList
	for _, e := range entries {
		e = strings.TrimPrefix(strings.TrimSpace(e), "@")
		j, err := jid.Parse(e)
		if err != nil {
			return allowList{}, fmt.Errorf("%q is neither a bare JID nor a domain: %w", e, err)
		}
		switch {
		case j.Resourcepart() != "":
			return allowList{}, fmt.Errorf("%q has a resource; allow a bare JID (%s) instead", e, j.Bare())
		case j.Localpart() == "":
			if l.domains == nil {
				l.domains = make(map[string]bool)
			}
			l.domains[j.Domainpart()] = true
		default:
			if l.jids == nil {
				l.jids = make(map[string]bool)
			}
			l.jids[j.String()] = true
		}
	}
	return l, nil
}

// admits reports whether a normalised bare JID may log in.
func (l allowList) admits(bare string) bool {
	if l.jids == nil && l.domains == nil {
		return true
	}
	if l.jids[bare] {
		return true
	}
	if i := strings.LastIndexByte(bare, '@'); i >= 0 {
		return l.domains[bare[i+1:]]
	}
	return false
}
