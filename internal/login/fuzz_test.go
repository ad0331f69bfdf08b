package login

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// The seeds of these targets are also in testdata/fuzz/<target>/, so that a
// plain `go test` replays them.

// checkBareJID fails t unless j is a JID the gate can log someone in with:
// a local part, and a bare form that is short enough for the cookie and
// reads back as itself (the allow list and the cookie compare it as a
// string).
func checkBareJID(t *testing.T, j jid.JID) {
	t.Helper()
	if j.Localpart() == "" || j.Domainpart() == "" {
		t.Fatalf("accepted %q without a local part or domain", j)
	}
	bare := j.Bare()
	b := bare.String()
	if bare.Resourcepart() != "" || b != j.Localpart()+"@"+j.Domainpart() {
		t.Fatalf("bare JID %q of %q has a resource", b, j)
	}
	if len(b) > maxJIDLen {
		t.Fatalf("bare JID is %d bytes, limit %d", len(b), maxJIDLen)
	}
	again, err := jid.Parse(b)
	if err != nil || again.String() != b || again.Resourcepart() != "" {
		t.Fatalf("bare JID %q re-parses as %q, %v", b, again, err)
	}
	full, err := jid.Parse(j.String())
	if err != nil || full.String() != j.String() || !full.Equal(j) {
		t.Fatalf("JID %q re-parses as %q, %v", j, full, err)
	}
}

// FuzzParseVisitorJID is the address typed into the login form.
//
// Properties: never a panic; a refusal names a text both page languages
// have; an accepted address has a local part, keeps its resource only as
// typed, has a bare form within maxJIDLen that re-parses to itself, and
// parsing its own string form again gives the same JID (the form shows it
// back, and a second submit must mean the same account).
func FuzzParseVisitorJID(f *testing.F) {
	for _, s := range []string{
		"alice@example.org", "alice@example.org.", " xmpp:Alice@Example.ORG/Phone ", "jürgen@bücher.example", "example.org",
		"@example.org", "alice@", "alice@example.org/", "", "xmpp:", "a@b@c", "alice@[::1]",
		strings.Repeat("a", 500) + "@example.org", "alice@example.org/res/with/slashes", "ǅ@example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := parseVisitorJID(s)
		if err != nil {
			var e errBadJID
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a page text key", err, err)
			}
			if textsEN[string(e)] == "" || textsFR[string(e)] == "" {
				t.Fatalf("error key %q has no text in every language", e)
			}
			if !j.Equal(jid.JID{}) {
				t.Fatalf("returned %q alongside %v", j, err)
			}
			return
		}
		checkBareJID(t, j)
		again, err := parseVisitorJID(j.String())
		if err != nil || again.String() != j.String() {
			t.Fatalf("%q parses as %q, which parses as %q, %v", s, j, again, err)
		}
		if typed := strings.TrimPrefix(strings.TrimSpace(s), "xmpp:"); j.Resourcepart() != "" && !strings.Contains(typed, "/") {
			t.Fatalf("%q gained resource %q", s, j.Resourcepart())
		}
	})
}

// FuzzAPIParams is a call of the /auth API: a query string and, for a POST,
// a form body, through the same reading and checking the handler does.
//
// Properties: never a panic; splitParams reads what net/url would with
// ";" as "&", and never more pairs than allowed; accepted parameters
// satisfy every documented rule (a JID with a local part, a clean domain,
// an NCName method, a transaction id a person can type back, a timeout in
// whole seconds between 1 and 300, the default when none is usable) and
// make a <confirm/> that can be sent; a refusal is always a 400 text.
func FuzzAPIParams(f *testing.F) {
	const def = apiDefaultTimeout
	f.Add("jid=user%40host%2Fresource;domain=example.org;method=POST;transaction_id=abcd;timeout=120", "", false)
	f.Add("jid=user%40host&domain=example.org&method=GET&timeout=60&transaction_id=x1", "", false)
	f.Add("timeout=9999", "jid=alice%40example.org&domain=https%3A%2F%2Fexample.org%2Fx&method=GET", true)
	f.Add("", "jid=alice@example.org;domain=example.org;method=GET;timeout=-5;transaction_id=", true)
	f.Add("jid=a%3Bb%26c&domain=ex%20ample&method=G%20ET", "", false)
	f.Add("jid=alice%40example.org&domain=example.org&method=GET&transaction_id=no", "", false)
	f.Add("jid=%zz", "", false)
	f.Add(strings.Repeat("a=1&", 65), "", false)
	f.Add("jid=alice%40example.org&domain=%E2%80%AEgro.elpmaxe&method=GET&timeout=+30+", "", false)

	f.Fuzz(func(t *testing.T, query, body string, post bool) {
		for _, raw := range []string{query, body} {
			checkSplitParams(t, raw)
		}

		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "http://gate.example/auth", strings.NewReader(body))
		r.URL.RawQuery = query
		if post {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		values, err := requestParams(r)
		if err != nil {
			return
		}
		p, err := parseAPIParams(values, def)
		if err != nil {
			var e errParam
			if !errors.As(err, &e) || e == "" {
				t.Fatalf("refusal %v (%T) is not a parameter error", err, err)
			}
			return
		}

		checkBareJID(t, p.jid)
		if d := p.domain; d == "" || len(d) > apiMaxDomain || d != strings.TrimSpace(d) ||
			strings.IndexFunc(d, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0 {
			t.Fatalf("accepted domain %q", d)
		}
		if !strings.HasPrefix(p.url, "https://") && !strings.HasPrefix(p.url, "http://") {
			t.Fatalf("confirm url %q is not http(s)", p.url)
		}
		if err := (xepauth.Confirm{ID: p.txid, URL: p.url, Method: p.method}).Validate(); err != nil {
			t.Fatalf("accepted parameters make an invalid confirm: %v", err)
		}
		if p.generated {
			if _, given := values["transaction_id"]; given || len(p.txid) != 6 {
				t.Fatalf("generated %q although one was given", p.txid)
			}
		} else if p.txid != values.Get("transaction_id") {
			t.Fatalf("transaction id %q, given %q", p.txid, values.Get("transaction_id"))
		}
		if len(p.txid) > basicMaxTxID || !utf8.ValidString(p.txid) || xepauth.ValidCode(p.txid) != nil ||
			strings.IndexFunc(p.txid, unicode.IsControl) >= 0 {
			t.Fatalf("accepted transaction id %q", p.txid)
		}
		if p.timeout <= 0 || p.timeout > APIMaxTimeout || p.timeout%time.Second != 0 {
			t.Fatalf("timeout %v outside (0, %v] or not whole seconds", p.timeout, APIMaxTimeout)
		}
		n, convErr := strconv.Atoi(strings.TrimSpace(values.Get("timeout")))
		switch {
		case convErr != nil || n <= 0:
			if p.timeout != def {
				t.Fatalf("timeout %q gave %v, want the default %v", values.Get("timeout"), p.timeout, def)
			}
		case n <= 300:
			if p.timeout != time.Duration(n)*time.Second {
				t.Fatalf("timeout %q gave %v", values.Get("timeout"), p.timeout)
			}
		default:
			if p.timeout != APIMaxTimeout {
				t.Fatalf("timeout %q gave %v, want the maximum", values.Get("timeout"), p.timeout)
			}
		}
	})
}

// checkSplitParams holds splitParams to net/url's parser, which refuses
// ";" but is otherwise the same grammar.
func checkSplitParams(t *testing.T, raw string) {
	t.Helper()
	got, err := splitParams(raw, apiMaxParams)
	pairs := 0
	for _, p := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		if p != "" {
			pairs++
		}
	}
	want, wantErr := url.ParseQuery(strings.ReplaceAll(raw, ";", "&"))
	switch {
	case pairs > apiMaxParams:
		if err == nil {
			t.Fatalf("%d pairs accepted, limit %d", pairs, apiMaxParams)
		}
	case err != nil:
		if wantErr == nil {
			t.Fatalf("splitParams(%q): %v; net/url reads %v", raw, err, want)
		}
	case wantErr != nil:
		t.Fatalf("splitParams(%q) = %v; net/url refuses it: %v", raw, got, wantErr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("splitParams(%q) = %v; net/url reads %v", raw, got, want)
	}
}

// FuzzBasicAuthorization is the Authorization header of an XEP-0070
// client: "Basic " and Base64 of JID:transaction-id.
//
// Properties: never a panic; credentials are found exactly when the header
// names the Basic scheme; accepted ones carry a JID with a local part whose
// bare form re-parses to itself within maxJIDLen, and a transaction id a
// person can type back; a refusal is a short text for the client.
func FuzzBasicAuthorization(f *testing.F) {
	for _, s := range []string{
		basicHeaderOf("alice@example.org:abcd"),
		basicHeaderOf("alice@example.org/phone:x1"),
		basicHeaderOf("alice%40example.org:tx%3A1"),
		"basic " + strings.TrimRight(strings.TrimPrefix(basicHeaderOf("bob@example.net:QWERTY"), "Basic "), "="),
		basicHeaderOf("alice@example.org:no"),
		basicHeaderOf("example.org:abcd"),
		basicHeaderOf(":abcd"),
		basicHeaderOf("alice@example.org:%zz"),
		"Basic !!!",
		"Bearer abc",
		"Basic",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		cred, ok, err := parseBasicAuthorization(http.Header{"Authorization": {value}})
		scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
		if ok != strings.EqualFold(scheme, "Basic") {
			t.Fatalf("%q: ok = %v", value, ok)
		}
		if err != nil {
			var e errBasic
			if !errors.As(err, &e) || e == "" {
				t.Fatalf("refusal %v (%T) is not a client error", err, err)
			}
			return
		}
		if !ok {
			return
		}
		checkBareJID(t, cred.jid)
		if cred.txid == "" || len(cred.txid) > basicMaxTxID || !utf8.ValidString(cred.txid) ||
			checkTxID(cred.txid) != nil || xepauth.ValidCode(cred.txid) != nil {
			t.Fatalf("accepted transaction id %q", cred.txid)
		}
	})
}
