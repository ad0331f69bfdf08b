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
