package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

var update = flag.Bool("update", false, "rewrite testdata/Caddyfile.example.json from ../Caddyfile.example")

func adapt(t *testing.T, src []byte) []byte {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		if strings.Contains(w.Message, "not formatted") {
			continue // the inline test inputs are indented for Go, not for caddy fmt
		}
		t.Errorf("adapt warning: %s:%d: %s", w.File, w.Line, w.Message)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func TestCaddyfileExampleAdaptsToItsJSONTwin(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	got := adapt(t, src)
	const fixture = "testdata/Caddyfile.example.json"
	if *update {
		if err := os.WriteFile(fixture, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Caddyfile.example adapts to\n%s\nbut %s holds\n%s\n(run go test ./caddymodule -run TestCaddyfileExample -update after a deliberate change)", got, fixture, want)
	}
	for _, frag := range []string{`"xmpp_auth": {`, `"handler": "xmpp_auth"`, `"secret": "{env.XMPP_COMPONENT_SECRET}"`} {
		if !bytes.Contains(want, []byte(frag)) {
			t.Errorf("the JSON twin lacks %s", frag)
		}
	}
}

func TestDirectiveComesBeforeReverseProxyAndBasicAuth(t *testing.T) {
	got := string(adapt(t, []byte(`{
	xmpp_auth {
		domain auth.localhost
		secret s
	}
}
:8080 {
	reverse_proxy 127.0.0.1:9000
	basic_auth {
		bob $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
	xmpp_auth
}`)))
	gate, basic, proxy := strings.Index(got, `"handler": "xmpp_auth"`), strings.Index(got, `"handler": "authentication"`), strings.Index(got, `"handler": "reverse_proxy"`)
	if gate < 0 || basic < 0 || proxy < 0 || gate >= basic || basic >= proxy {
		t.Errorf("handlers out of order (xmpp_auth %d, basic_auth %d, reverse_proxy %d):\n%s", gate, basic, proxy, got)
	}
}

func TestParseDirective(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Handler
		wantErr string
	}{
		{name: "bare", input: `xmpp_auth`, want: Handler{}},
		{name: "every option", input: `xmpp_auth {
			allow alice@example.org example.net
			allow bob@example.com
			deny intern@example.net
			session_lifetime 1d
			login_timeout 90s
			user_header X-Remote-User
			cookie_name gate
			path_prefix /_login/
			session_key {env.NEW} {env.OLD}
			idle_timeout 30m
			cookie_domain example.org
			cookie_path /app
			cookie_same_site strict
			site_name "The Wiki"
			language fr
			messages /etc/caddy/messages.lang
			templates /etc/caddy/xmpp-auth
			pass_preflight
		}`, want: Handler{
			Allow:           []string{"alice@example.org", "example.net", "bob@example.com"},
			Deny:            []string{"intern@example.net"},
			SessionLifetime: 86400e9, LoginTimeout: 90e9,
			UserHeader: "X-Remote-User", CookieName: "gate", PathPrefix: "/_login/",
			SessionKeys: []string{"{env.NEW}", "{env.OLD}"}, IdleTimeout: 30 * 60e9,
			CookieDomain: "example.org", CookiePath: "/app", CookieSameSite: "strict",
			SiteName: "The Wiki", Language: "fr",
			Messages: "/etc/caddy/messages.lang", Templates: "/etc/caddy/xmpp-auth",
			PassPreflight: true,
		}},
		{name: "pass_preflight with a value", input: "xmpp_auth {\n pass_preflight yes\n}", wantErr: "pass_preflight takes no value"},
		{name: "unknown option", input: "xmpp_auth {\n bogus 1\n}", wantErr: `unknown option "bogus"`},
		{name: "missing value", input: "xmpp_auth {\n login_timeout\n}", wantErr: "login_timeout needs a value"},
		{name: "two values", input: "xmpp_auth {\n cookie_name a b\n}", wantErr: "takes one value"},
		{name: "bad duration", input: "xmpp_auth {\n session_lifetime soon\n}", wantErr: `session_lifetime "soon"`},
		{name: "negative duration", input: "xmpp_auth {\n login_timeout -1m\n}", wantErr: "must be positive"},
		{name: "empty allow", input: "xmpp_auth {\n allow\n}", wantErr: "allow needs at least one value"},
		{name: "argument on the directive", input: "xmpp_auth now", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(h)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestParseGlobalOption(t *testing.T) {
	var a App
	err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`xmpp_auth {
		server 127.0.0.1:5348
		domain auth.example.org
		secret {file./run/secrets/component}
		name "Example login"
		keepalive 1m
		limits {
			jid 2 5
			jid_all 7
			ip 20 60
			window 30m
			max_pending 500
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Server != "127.0.0.1:5348" || a.Domain != "auth.example.org" || a.Secret != "{file./run/secrets/component}" ||
		a.Name != "Example login" || a.KeepAlive != 60e9 {
		t.Errorf("parsed %+v", a)
	}
	if l := a.Limits.resolve(); l != (login.Limits{PerJIDOpen: 2, PerJIDWindow: 5, PerJIDAllOpen: 7, PerIPOpen: 20, PerIPWindow: 60, Window: 30 * time.Minute, MaxOpen: 500}) {
		t.Errorf("limits parsed as %+v", l)
	}
	if l := (*Limits)(nil).resolve(); l != login.DefaultLimits {
		t.Errorf("no limits block: %+v, want the defaults", l)
	}
	for in, want := range map[string]string{
		"xmpp_auth {\n limits {\n jid 3\n }\n}":    "takes 2 number(s)",
		"xmpp_auth {\n limits {\n ip 0 5\n }\n}":   "not a positive whole number",
		"xmpp_auth {\n limits {\n burst 1\n }\n}":  `unknown option "burst"`,
		"xmpp_auth {\n limits {\n window x\n }\n}": `window "x"`,
	} {
		if err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	if err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser("xmpp_auth {\n port 1\n}")); err == nil ||
		!strings.Contains(err.Error(), `unknown option "port"`) {
		t.Errorf("unknown option: err = %v", err)
	}
}
