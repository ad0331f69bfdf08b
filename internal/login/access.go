package login

import (
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"
)

// access says who may use a site: the allow list (empty: everyone) minus
// the deny list. Deny wins, so "allow example.org" with "deny
// intern@example.org" reads as it sounds.
type access struct {
	allow jidSet
	deny  jidSet
}

func parseAccess(allow, deny []string) (access, error) {
	var a access
	var err error
	if a.allow, err = parseJIDSet(allow); err != nil {
		return access{}, fmt.Errorf("allow: %w", err)
	}
	if a.deny, err = parseJIDSet(deny); err != nil {
		return access{}, fmt.Errorf("deny: %w", err)
	}
	return a, nil
}

// admits reports whether a normalised bare JID may use the site.
func (a access) admits(bare string) bool {
	if a.deny.matches(bare) {
		return false
	}
	return a.allow.empty() || a.allow.matches(bare)
}

// jidSet is a set of bare JIDs and whole domains, compared after the same
// normalisation JIDs get when they are parsed.
type jidSet struct {
	jids    map[string]bool
	domains map[string]bool
}

func parseJIDSet(entries []string) (jidSet, error) {
	var l jidSet
	for _, e := range entries {
		e = strings.TrimPrefix(strings.TrimSpace(e), "@")
		j, err := jid.Parse(e)
		if err != nil {
			return jidSet{}, fmt.Errorf("%q is neither a bare JID nor a domain: %w", e, err)
		}
		switch {
		case j.Resourcepart() != "":
			return jidSet{}, fmt.Errorf("%q has a resource; name the bare JID (%s) instead", e, j.Bare())
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

func (l jidSet) empty() bool { return l.jids == nil && l.domains == nil }

// matches reports whether a normalised bare JID is in the set, by itself
// or by its domain.
func (l jidSet) matches(bare string) bool {
	if l.jids[bare] {
		return true
	}
	if i := strings.LastIndexByte(bare, '@'); i >= 0 {
		return l.domains[bare[i+1:]]
	}
	return false
}
