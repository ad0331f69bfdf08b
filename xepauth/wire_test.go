package xepauth

import (
	"encoding/xml"
	"strings"
	"testing"
)

func decodeWire(t *testing.T, raw string) wireStanza {
	t.Helper()
	var s wireStanza
	if err := xml.NewDecoder(strings.NewReader(raw)).Decode(&s); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return s
}

func TestWireDecodesTheXEPExamples(t *testing.T) {
	// XEP-0070 §4.6, with the example's wrong error namespace kept.
	deny := decodeWire(t, `<iq xmlns='jabber:component:accept' type='error' from='juliet@capulet.com/balcony' to='files.shakespeare.lit' id='ha000'>
  <confirm xmlns='http://jabber.org/protocol/http-auth' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/>
  <error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:xmpp-stanzas'/></error>
</iq>`)
	if deny.Type != "error" || deny.ID != "ha000" || deny.condition() != "not-authorized" {
		t.Errorf("deny decoded as %+v", deny)
	}
	if c := deny.confirm(); c == nil || c.ID != "a7374jnjlalasdf82" || c.Method != "GET" {
		t.Errorf("confirm decoded as %+v", c)
	}

	approve := decodeWire(t, `<message xmlns='jabber:component:accept' from='juliet@capulet.com/balcony' to='files.shakespeare.lit'>
  <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>
  <confirm xmlns='http://jabber.org/protocol/http-auth' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/>
</message>`)
	if approve.Type != "" || approve.thread() != "e0ffe42b28561960c6b12b944a092794b9683a38" || approve.confirm() == nil {
		t.Errorf("approve decoded as %+v", approve)
	}

	disco := decodeWire(t, `<iq xmlns='jabber:component:accept' type='get' id='d1' from='a@b/c'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if p := disco.payload(); p.Space != nsDiscoInfo || p.Local != "query" {
		t.Errorf("disco payload = %v", p)
	}
}

func TestWireSurvivesHostileShapes(t *testing.T) {
	deep := strings.Repeat("<x>", 5000) + strings.Repeat("</x>", 5000)
	tests := map[string]string{
		"a confirm in a foreign namespace is not ours": `<message from='a@b/c'><confirm xmlns='urn:other' id='X'/></message>`,
		"deeply nested unknown payload":                `<message from='a@b/c'><body>hi</body>` + deep + `</message>`,
		"a megabyte body":                              `<message from='a@b/c'><body>` + strings.Repeat("A", 1<<20) + `</body></message>`,
		"unknown namespaces everywhere":                `<message from='a@b/c' xmlns:q='urn:q'><q:thread>t</q:thread><q:body>b</q:body></message>`,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			s := decodeWire(t, raw)
			if name == "a confirm in a foreign namespace is not ours" && s.confirm() != nil {
				t.Error("took a foreign confirm for ours")
			}
		})
	}
}

func TestConfirmValidate(t *testing.T) {
	tests := []struct {
		c  Confirm
		ok bool
	}{
		{Confirm{ID: "ABC", Method: "GET", URL: "https://x/"}, true},
		{Confirm{ID: "ABC", Method: "PROPFIND", URL: "https://x/"}, true},
		{Confirm{ID: "", Method: "GET", URL: "https://x/"}, false},
		{Confirm{ID: "ABC", Method: "G T", URL: "https://x/"}, false},
		{Confirm{ID: "ABC", Method: "a:b", URL: "https://x/"}, false},
		{Confirm{ID: "ABC", Method: "GET", URL: ""}, false},
	}
	for _, tt := range tests {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt.c, err, tt.ok)
		}
	}
}

func TestNewCodeIsEasyToType(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewCode(6)
		if len(c) != 6 || strings.Trim(c, codeAlphabet) != "" {
			t.Fatalf("code %q has characters outside %q", c, codeAlphabet)
		}
		if normaliseCode(strings.ToLower(c)) != c {
			t.Fatalf("code %q does not survive normalisation", c)
		}
		seen[c] = true
	}
	if len(seen) < 990 {
		t.Fatalf("only %d distinct codes in 1000", len(seen))
	}
}

func TestBodyNamesSiteURLMethodAndCode(t *testing.T) {
	for _, lang := range []string{"en", "fr", "fr-CA", "xx", ""} {
		b := Messages(nil).Body(Request{Site: "wiki.example.org", URL: "https://wiki.example.org/page", Method: "GET", Code: "ABC234", Language: lang})
		for _, want := range []string{"wiki.example.org", "https://wiki.example.org/page", "GET", "ABC234"} {
			if !strings.Contains(b, want) {
				t.Errorf("%s body lacks %q:\n%s", lang, want, b)
			}
		}
	}
	if b := Messages(nil).Body(Request{Language: "fr-FR"}); !strings.Contains(b, "connexion") {
		t.Errorf("fr-FR body is not French: %s", b)
	}
}

func TestValidCodeRefusesWhatCannotBeTypedBackSafely(t *testing.T) {
	for code, ok := range map[string]bool{
		"ABC234": true, "a7374jnjlalasdf82": true, "élodie-1": true,
		"": false, "--": false, "no": false, "NON": false, "n-o-n!": false, "noXYZ": false, "Non123": false,
		"ab\u202ecd": false, "ab\x00": false, strings.Repeat("a", 65): false,
	} {
		if err := ValidCode(code); (err == nil) != ok {
			t.Errorf("ValidCode(%q) = %v, want ok=%v", code, err, ok)
		}
	}
	for range 5000 {
		if c := NewCode(6); strings.HasPrefix(c, "NO") {
			t.Fatalf("NewCode made %q, which reads as a refusal", c)
		}
	}
}
