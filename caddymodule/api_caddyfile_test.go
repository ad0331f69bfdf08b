package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestParseAPIDirective(t *testing.T) {
	d := caddyfile.NewTestDispenser(`xmpp_auth_api {
		bearer_token {env.TOKEN}
		allow_from 10.0.0.0/8 192.0.2.1
		default_timeout 2m
		language fr
	}`)
	var h APIHandler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(&h)
	if string(got) != `{"bearer_token":"{env.TOKEN}","allow_from":["10.0.0.0/8","192.0.2.1"],"default_timeout":120000000000,"language":"fr"}` {
		t.Errorf("got %s", got)
	}
	for _, bad := range []string{"xmpp_auth_api arg", "xmpp_auth_api {\nallow_from nonsense\n}", "xmpp_auth_api {\nfoo\n}", "xmpp_auth_api {\nbearer_token\n}"} {
		var h APIHandler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	out := string(adapt(t, []byte("{\n\txmpp_auth {\n\t\tdomain auth.example.org\n\t\tsecret s\n\t}\n}\nexample.org {\n\thandle /auth {\n\t\txmpp_auth_api\n\t}\n\treverse_proxy 127.0.0.1:8000\n}\n")))
	if !strings.Contains(out, `"handler": "xmpp_auth_api"`) {
		t.Errorf("adapted Caddyfile has no xmpp_auth_api handler:\n%s", out)
	}
}

// The README's migration example is valid and shows every option.
func TestREADMEShowsEveryAPIOption(t *testing.T) {
	adapted := string(adapt(t, []byte(readmeBlock(t, "caddyfile", "xmpp_auth_api"))))
	for _, f := range jsonFields(APIHandler{}) {
		if !strings.Contains(adapted, `"`+f+`"`) {
			t.Errorf("the README's xmpp_auth_api example does not set %q", f)
		}
	}
	if !strings.Contains(adapted, `"handler": "xmpp_auth_api"`) {
		t.Errorf("no xmpp_auth_api handler in:\n%s", adapted)
	}
}
