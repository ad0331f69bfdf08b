package caddymodule_test

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// loadREADMEExample runs the README's Caddyfile example that contains
// marker as it is, with the test's address for wiki.example.org, its
// upstream for 127.0.0.1:8080, and the app pointed at its Prosody.
func (s *site) loadREADMEExample(marker string) {
	s.t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		s.t.Fatal(err)
	}
	var block string
	for _, m := range regexp.MustCompile("(?s)```caddyfile\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		if strings.Contains(m[1], marker) {
			block = m[1]
			break
		}
	}
	if block == "" {
		s.t.Fatalf("README.md has no Caddyfile example containing %q", marker)
	}
	block = strings.ReplaceAll(block, "wiki.example.org", "http://"+s.addr)
	block = strings.ReplaceAll(block, "127.0.0.1:8080", strings.TrimPrefix(s.upstream.URL, "http://"))
	global := "{\n\tadmin off\n\tstorage file_system " + s.storage + "\n\txmpp_auth {\n\t\tserver " + s.p.ComponentAddr +
		"\n\t\tdomain " + s.p.ComponentDomain + "\n\t\tsecret " + s.p.ComponentSecret + "\n\t}\n}\n"
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(global+block), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		s.t.Fatalf("adapt the README's example: %v\n%s", err, global+block)
	}
	if err := caddy.Load(cfg, true); err != nil {
		s.t.Fatalf("load the README's example: %v", err)
	}
}

func TestTheREADMEsOpenPathsPassNoIdentityAClientForged(t *testing.T) {
	s := newSite(t)
	s.loadREADMEExample("@public path")
	for _, path := range []string{"/static/app.css", "/static/..;/admin", "/healthz"} {
		req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
		req.Header.Set("X-Forwarded-User", "admin@localhost")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got, hits := s.upstream.lastRequest()
		if resp.StatusCode != http.StatusOK || hits == 0 {
			t.Fatalf("%s: %d, the open path did not reach the upstream", path, resp.StatusCode)
		}
		if v := got.Header.Values("X-Forwarded-User"); len(v) != 0 {
			t.Errorf("%s: the upstream got X-Forwarded-User %q from an anonymous client", path, v)
		}
	}
	// The rest of the site is gated.
	_, before := s.upstream.lastRequest()
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/admin", nil)
	req.Header.Set("X-Forwarded-User", "admin@localhost")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, hits := s.upstream.lastRequest(); resp.StatusCode != http.StatusUnauthorized || hits != before {
		t.Errorf("/admin without a session: %d, upstream hits %d → %d", resp.StatusCode, before, hits)
	}
}
