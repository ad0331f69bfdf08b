package login

import (
	"testing"

	"mellium.im/xmpp/jid"
)

func TestAnAddressIsUsedOnlyAsItWasTyped(t *testing.T) {
	for typed, ok := range map[string]bool{
		"alice@example.org":       true,
		"Alice@Example.ORG":       true, // case: every server folds it alike
		"alice@example.org/Phone": true, // the resource is kept as typed
		"ΑΛΕΞΗΣ@example.org":      true, // Σ folds to σ in both readings
		"jürgen@müller.example":   true,
		"x\U0002f874@example.org": false, // parses as x当, stringprep reads x弳
		"alice@example.org.":      false, // parses without the dot
		"ali\u00df@example.org":   false, // stringprep reads aliss
		"x\u1f88@example.org":     false, // parses as x\u1f80, which stringprep reads as two letters
		"alice@example.org/ﬁ":     true,  // a resource is not an account
		"alice@exam\u0301ple.org": false,
	} {
		j, err := jid.Parse(typed)
		if err != nil {
			t.Errorf("%q does not parse: %v", typed, err)
			continue
		}
		if err := checkSpelling(typed, j); (err == nil) != ok {
			t.Errorf("%q (parsed %q): %v, want accepted %v", typed, j, err, ok)
		}
	}
}

func TestIPLiteralDomains(t *testing.T) {
	for domain, want := range map[string]bool{
		"10.0.0.5": true, "[::1]": true, "[2001:db8::1]": true, "127.1": true, "2130706433": true,
		"0x7f000001": true, "0X7F.1": true, "example.org": false, "1.example.org": false, "example.123x": false,
		"localhost": false, "xn--80ak6aa92e.com": false,
	} {
		if got := ipLiteralDomain(domain); got != want {
			t.Errorf("%s: %v, want %v", domain, got, want)
		}
	}
}

// An address at an IP literal is asked only when the allow list names
// that domain: as a domain, or as the domain of one of its JIDs. Naming
// another domain, or a JID of another domain that ends alike, is not
// naming it.
func TestOnlyAnAllowListThatNamesTheDomainAllowsIt(t *testing.T) {
	for _, c := range []struct {
		allow []string
		addr  string
		want  bool
	}{
		{nil, "alice@10.0.0.5", false},
		{[]string{"10.0.0.5"}, "alice@10.0.0.5", true},
		{[]string{"@10.0.0.5"}, "alice@10.0.0.5", true},
		{[]string{"bob@10.0.0.5"}, "alice@10.0.0.5", true},
		{[]string{"example.org", "bob@10.0.0.5"}, "alice@10.0.0.5", true},
		{[]string{"[::1]"}, "alice@[::1]", true},
		{[]string{"bob@[::1]"}, "alice@[::1]", true},
		{[]string{"10.0.0.6"}, "alice@10.0.0.5", false},
		{[]string{"example.org", "alice@example.org"}, "alice@10.0.0.5", false},
		{[]string{"bob@110.0.0.5"}, "alice@10.0.0.5", false}, // ends in the domain, but is another
		{[]string{"bob@10.0.0.5.example"}, "alice@10.0.0.5", false},
		{[]string{"0.0.5"}, "alice@10.0.0.5", false},
	} {
		a, err := parseAccess(c.allow, nil)
		if err != nil {
			t.Fatalf("allow %q: %v", c.allow, err)
		}
		if got := a.namesDomain(jid.MustParse(c.addr)); got != c.want {
			t.Errorf("allow %q names the domain of %s: %v, want %v", c.allow, c.addr, got, c.want)
		}
	}
}
