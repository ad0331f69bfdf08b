package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// docBlock returns the first fenced code block of lang in docs/openid.md
// that contains marker.
func docBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	return fencedBlock(t, "../docs/openid.md", lang, marker)
}

// oidcHandlerIn finds the xmpp_auth_oidc handler in an adapted config.
func oidcHandlerIn(t *testing.T, adapted []byte) OIDCHandler {
	t.Helper()
	var cfg any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	var find func(v any) map[string]any
	find = func(v any) map[string]any {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "xmpp_auth_oidc" {
				return v
			}
			for _, e := range v {
				if m := find(e); m != nil {
					return m
				}
			}
		case []any:
			for _, e := range v {
				if m := find(e); m != nil {
					return m
				}
			}
		}
		return nil
	}
	m := find(cfg)
	var h OIDCHandler
	if m == nil || json.Unmarshal(mustJSON(t, m), &h) != nil {
		t.Fatalf("no xmpp_auth_oidc handler in:\n%s", adapted)
	}
	return h
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTheOpenIDDocsCaddyfileSaysWhatItsJSONSays(t *testing.T) {
	fromCaddyfile := oidcHandlerIn(t, adapt(t, []byte(docBlock(t, "caddyfile", "xmpp_auth_oidc"))))
	var fromJSON OIDCHandler
	if err := json.Unmarshal([]byte(docBlock(t, "json", `"handler": "xmpp_auth_oidc"`)), &fromJSON); err != nil {
		t.Fatalf("the JSON example does not parse: %v", err)
	}
	if len(fromCaddyfile.Clients) != 2 || !reflect.DeepEqual(fromCaddyfile.Clients[0], fromJSON.Clients[0]) {
		t.Errorf("the grafana client:\nCaddyfile %+v\nJSON      %+v", fromCaddyfile.Clients, fromJSON.Clients)
	}
	fromCaddyfile.Clients, fromJSON.Clients = nil, nil
	if !reflect.DeepEqual(fromCaddyfile, fromJSON) {
		t.Errorf("the rest:\nCaddyfile %+v %+v\nJSON      %+v %+v", fromCaddyfile, fromCaddyfile.Login, fromJSON, fromJSON.Login)
	}
}

func TestEveryOpenIDOptionHasACaddyfileSpelling(t *testing.T) {
	d := caddyfile.NewTestDispenser(`xmpp_auth_oidc {
		issuer https://login.example.org
		client wiki {
			name Wiki
			secret {env.WIKI_SECRET}
			redirect_uri https://wiki.example.org/cb https://wiki.example.org/cb2
			post_logout_redirect_uri https://wiki.example.org/bye
			allow example.org
			deny intern@example.org
			refresh_tokens
			id_token_alg ES256
			trusted
		}
		subject jid
		username localpart
		email_domains example.org example.net
		email_verified
		access_token_lifetime 5m
		id_token_lifetime 30m
		refresh_token_lifetime 48h
		key_rotation 240h
		login {
			language fr
		}
	}`)
	var h OIDCHandler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	for _, v := range []reflect.Value{reflect.ValueOf(h), reflect.ValueOf(h.Clients[0])} {
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
				t.Errorf("%s.%s was not set from the Caddyfile", v.Type().Name(), f.Name)
			}
		}
	}
	if len(h.Clients[0].RedirectURIs) != 2 || h.Login.Language != "fr" {
		t.Errorf("parsed: %+v, login %+v", h.Clients[0], h.Login)
	}
}

func TestABrokenOpenIDCaddyfileSaysWhatIsWrong(t *testing.T) {
	for src, want := range map[string]string{
		"xmpp_auth_oidc {\n client wiki {\n redirect_uri https://a.example/cb\n }\n}":       "issuer is required",
		"xmpp_auth_oidc {\n issuer https://a.example\n colour blue\n}":                      `unknown option "colour"`,
		"xmpp_auth_oidc {\n issuer https://a.example\n client {\n }\n}":                     "client needs its id",
		"xmpp_auth_oidc {\n issuer https://a.example\n client wiki {\n secrets x\n }\n}":    `client wiki: unknown option "secrets"`,
		"xmpp_auth_oidc {\n issuer https://a.example\n email_verified yes\n}":               "takes no value",
		"xmpp_auth_oidc {\n issuer https://a.example\n email_domains\n}":                    "needs at least one value",
		"xmpp_auth_oidc {\n issuer https://a.example\n login {\n }\n login {\n }\n}":        "login given twice",
		"xmpp_auth_oidc {\n issuer https://a.example\n login {\n colour blue\n }\n}":        `unknown option "colour"`,
		"xmpp_auth_oidc {\n issuer https://a.example\n id_token_lifetime soon\n}":           "id_token_lifetime",
		"xmpp_auth_oidc {\n issuer https://a.example\n client wiki {\n trusted yes\n }\n}":  "takes no value",
		"xmpp_auth_oidc {\n issuer https://a.example https://b.example\n}":                  "takes one value",
		"xmpp_auth_oidc https://a.example {\n}":                                             "wrong argument count",
		"xmpp_auth_oidc {\n issuer https://a.example\n client wiki extra {\n }\n}":          "wrong argument count",
		"xmpp_auth_oidc {\n issuer https://a.example\n client wiki {\n redirect_uri\n }\n}": "needs at least one value",
	} {
		var h OIDCHandler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error saying %q", src, err, want)
		}
	}
}
