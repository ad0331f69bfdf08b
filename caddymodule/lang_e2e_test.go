package caddymodule_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// loadWithLanguageOptions loads the site's config with extra handler fields (language,
// messages, templates), which options does not carry.
func (s *site) loadWithLanguageOptions(extra map[string]string) error {
	s.t.Helper()
	fields := ""
	for k, v := range extra {
		fields += "," + strconv.Quote(k) + ":" + strconv.Quote(v)
	}
	cfg := strings.Replace(string(s.config(options{})), `"handler":"xmpp_auth"`, `"handler":"xmpp_auth"`+fields, 1)
	if !strings.Contains(cfg, fields) {
		s.t.Fatal("the test config has no xmpp_auth handler")
	}
	return caddy.Load([]byte(cfg), true)
}

func writeLangFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLanguageAndMessagesFileThroughTheServer(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	msgs := writeLangFile(t, dir, "messages.lang", "# the wiki's texts\n"+
		"fr=Connexion à {site} demandée.\\nCode : {code}\n"+
		"de=_DOMAIN_ bittet um Bestätigung (_METHOD_): _VALIDE_CODE_\n")
	if err := s.loadWithLanguageOptions(map[string]string{"language": "fr", "messages": msgs}); err != nil {
		t.Fatal(err)
	}
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)

	tests := []struct {
		acceptLanguage string
		pageLang       string
		pageText       string
		body           string // the message alice gets, before the code
	}{
		{"", "fr", "Votre adresse XMPP", "Connexion à 127.0.0.1 demandée.\nCode : "},              // the site's default
		{"de-DE, en;q=0.5", "en", "Your XMPP address", "127.0.0.1 bittet um Bestätigung (GET): "}, // pages in English, message in German
		{"en-GB", "en", "Your XMPP address", ""},                                                  // the built-in English message
	}
	for _, tt := range tests {
		t.Run("Accept-Language "+tt.acceptLanguage, func(t *testing.T) {
			b := s.browser()
			resp, body := b.Do("GET", "/page", nil, "Accept-Language", tt.acceptLanguage)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `<html lang="`+tt.pageLang+`">`) ||
				!strings.Contains(body, tt.pageText) || resp.Header.Get("Content-Language") != tt.pageLang ||
				!strings.Contains(resp.Header.Get("Vary"), "Accept-Language") {
				t.Fatalf("login page: %d %v\n%s", resp.StatusCode, resp.Header, body)
			}
			token := csrfField.FindStringSubmatch(body)[1]
			resp, _ = b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {"alice@localhost"}, "return": {"/page"}, "csrf": {token}},
				"Accept-Language", tt.acceptLanguage)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login form: %d", resp.StatusCode)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := alice.NextRequest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.body + req.ID
			if tt.body == "" {
				want = "127.0.0.1 asks you to confirm a login."
			}
			if !strings.HasPrefix(req.Body, want) {
				t.Errorf("alice got %q, want %q", req.Body, want)
			}
		})
	}

	// An error page in French: the error text is translated too.
	b := s.browser()
	resp, body := b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {"not an address"}, "csrf": {b.FormToken()}}, "Accept-Language", "fr")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Ce n&#39;est pas une adresse XMPP") {
		t.Errorf("French error: %d\n%s", resp.StatusCode, body)
	}
}

func TestTemplatesFolderThroughTheServer(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	writeLangFile(t, dir, "page.html", `<!doctype html><html lang="{{.Lang}}"><title>{{template "title" .}}</title><h1 class="custom">{{.Site}}</h1>`+
		`{{if eq .Kind "login"}}<form method="post" action="{{.Prefix}}login"><label>{{.T.login_label}} <input name="jid"></label>`+
		`<input type="hidden" name="return" value="{{.Return}}"><input type="hidden" name="csrf" value="{{.CSRF}}"></form>`+
		`{{else}}<p>{{.T.notfound}}</p>{{end}}`)
	writeLangFile(t, dir, "title.html", `{{define "title"}}{{index .T (print "title_" .Kind)}} (custom){{end}}`)
	if err := s.loadWithLanguageOptions(map[string]string{"templates": dir}); err != nil {
		t.Fatal(err)
	}
	s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()
	resp, body := b.Do("GET", "/x", nil, "Accept-Language", "fr")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `<title>Connexion (custom)</title><h1 class="custom">127.0.0.1</h1>`) ||
		!strings.Contains(body, `value="/x"`) || !strings.Contains(body, "Votre adresse XMPP") {
		t.Fatalf("custom login page: %d\n%s", resp.StatusCode, body)
	}
	// The custom form works: the login starts.
	token := csrfField.FindStringSubmatch(body)[1]
	if resp, _ := b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {"alice@localhost"}, "return": {"/x"}, "csrf": {token}}); resp.StatusCode != http.StatusOK {
		t.Errorf("login from the custom form: %d", resp.StatusCode)
	}
}

func TestBadLanguageFilesAreConfigErrors(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	noCode := writeLangFile(t, dir, "nocode.lang", "en=Code: {code}\n# fine so far\nfr=Connexion à {site}\n")
	broken := t.TempDir()
	writeLangFile(t, broken, "page.html", `<p>{{.T.no_such_text}}</p>`)
	tests := []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"a text without the code", map[string]string{"messages": noCode}, noCode + ", line 3 (fr): the text lacks {code}"},
		{"no such messages file", map[string]string{"messages": filepath.Join(dir, "none.lang")}, "none.lang: no such file"},
		{"a language nobody speaks", map[string]string{"language": "tlh"}, `language "tlh"`},
		{"a folder without page.html", map[string]string{"templates": dir}, "no page.html in this folder"},
		{"a template with an unknown text", map[string]string{"templates": broken}, "the login page in en does not render"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.loadWithLanguageOptions(tt.extra)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
