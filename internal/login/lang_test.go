package login

import (
	"bytes"
	"maps"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

func TestNegotiatePicksTheBestSupportedLanguage(t *testing.T) {
	supported := []string{"en", "fr", "pt-br"}
	tests := []struct{ header, def, want string }{
		{"", "en", "en"},
		{"", "fr", "fr"},
		{"fr", "en", "fr"},
		{"fr-CA,fr;q=0.9,en;q=0.8", "en", "fr"},
		{"de-DE,de;q=0.9", "fr", "fr"},                 // nothing fits: the site's default
		{"de, en;q=0.5, fr;q=0.7", "en", "fr"},         // q-values, not order
		{"en;q=0.5, fr;q=0.5", "en", "en"},             // a tie keeps the header's order
		{"fr;q=0, en", "fr", "en"},                     // q=0 means "not this one"
		{"fr;q=0", "en", "en"},                         // …and nothing else asked: the default
		{"*", "fr", "fr"},                              // anything: the default
		{"de, *;q=0.5, en;q=0.1", "fr", "fr"},          // * before en
		{"fr;q=abc, en;q=0.2", "fr", "en"},             // a malformed weight does not count
		{"FR_fr", "en", "fr"},                          // case and underscore forgiven
		{"pt", "en", "pt-br"},                          // a more specific supported tag
		{"zh-Hant-TW, en-GB;q=0.3", "fr", "en"},        // lookup drops subtags
		{" fr ; q=0.9 , en ; q=1", "fr", "en"},         // spaces
		{strings.Repeat("de,", 40) + "fr", "en", "en"}, // a silly header is cut short
	}
	for _, tt := range tests {
		if got := negotiate(tt.header, supported, tt.def); got != tt.want {
			t.Errorf("negotiate(%q, default %s) = %s, want %s", tt.header, tt.def, got, tt.want)
		}
	}
}

var textField = regexp.MustCompile(`\{([a-z_]+)\}`)

func TestEveryLanguageHasEveryTextAndOnlyKnownFields(t *testing.T) {
	keys := slices.Sorted(maps.Keys(textsEN))
	for lang, texts := range pageTexts {
		if got := slices.Sorted(maps.Keys(texts)); !slices.Equal(got, keys) {
			t.Errorf("%s has keys %v,\nwant those of en: %v", lang, got, keys)
		}
		for k, v := range texts {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s.%s is empty", lang, k)
			}
			if !regexp.MustCompile(`^[a-z_]+$`).MatchString(k) {
				t.Errorf("key %q cannot be written .T.%s in a template", k, k)
			}
			for _, m := range textField.FindAllStringSubmatch(v, -1) {
				switch m[1] {
				case "site", "jid", "code", "seconds", "client":
				default:
					t.Errorf("%s.%s uses the unknown field %s", lang, k, m[0])
				}
				if !strings.Contains(textsEN[k], m[0]) {
					t.Errorf("%s.%s uses %s, which the English text does not", lang, k, m[0])
				}
			}
			if lang != "en" && v == textsEN[k] && k != "login_placeholder" {
				t.Errorf("%s.%s is the English text: %q", lang, k, v)
			}
		}
	}
	// Every error key the gate sets is a text.
	for _, k := range []string{"err_form_unreadable", "err_form_expired"} {
		if _, ok := textsEN[k]; !ok {
			t.Errorf("no text for %s", k)
		}
	}
	for _, s := range []string{"", "not an address", strings.Repeat("a", 600) + "@example.org"} {
		_, err := parseVisitorJID(s)
		if _, ok := textsEN[err.Error()]; !ok {
			t.Errorf("parseVisitorJID(%.20q) gives %q, which is no text key", s, err)
		}
	}
}

func TestBuiltInPagesRenderInEveryLanguage(t *testing.T) {
	if err := checkPages(pageTemplate); err != nil {
		t.Fatal(err)
	}
	for _, lang := range pageLanguages {
		for _, p := range samplePages() {
			p.JID = `<b>eve</b>@example.org`
			if p.Client != "" {
				p.Client = `<i>app</i>`
			}
			p.translate(lang)
			var buf bytes.Buffer
			if err := pageTemplate.ExecuteTemplate(&buf, "page.html", p); err != nil {
				t.Fatal(err)
			}
			html := buf.String()
			title := p.Title
			if !strings.Contains(html, `<html lang="`+lang+`">`) || title == "" ||
				!strings.Contains(html, "<h1>"+templateEscape(title)+"</h1>") {
				t.Errorf("%s %s page: no lang attribute or title %q:\n%s", lang, p.Kind, title, html)
			}
			if strings.Contains(html, "<i>app") {
				t.Errorf("%s %s page does not escape the client's name", lang, p.Kind)
			}
			if strings.Contains(html, "<b>eve") {
				t.Errorf("%s %s page does not escape the JID", lang, p.Kind)
			}
		}
	}
}

func templateEscape(s string) string {
	return strings.NewReplacer("'", "&#39;", "&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func TestPageTranslatesErrorKeysAndFillsFields(t *testing.T) {
	p := page{Kind: "wait", JID: "alice@example.org", Seconds: 90, Error: "err_jid_invalid"}
	p.translate("fr")
	if p.Lang != "fr" || p.T["wait_sent"] != "Une demande de confirmation a été envoyée à alice@example.org." ||
		!strings.Contains(p.T["wait_status"], "encore 90 secondes") || p.Error != textsFR["err_jid_invalid"] {
		t.Errorf("fr page: %s %q %q %q", p.Lang, p.T["wait_sent"], p.T["wait_status"], p.Error)
	}
	p = page{Kind: "login", Error: "some text the gate wrote itself"}
	p.translate("de")
	if p.Lang != "en" || p.Error != "some text the gate wrote itself" {
		t.Errorf("unknown language: %s %q", p.Lang, p.Error)
	}
}

// TestPageColoursMeetWCAGAA reads the colours of both schemes from the
// page's style and checks each pair the page uses.
func TestPageColoursMeetWCAGAA(t *testing.T) {
	src, err := pageFiles.ReadFile("pages/page.html")
	if err != nil {
		t.Fatal(err)
	}
	css := string(src)
	dark := strings.Index(css, "prefers-color-scheme: dark")
	if dark < 0 {
		t.Fatal("no dark scheme")
	}
	for scheme, block := range map[string]string{"light": css[:dark], "dark": css[dark:]} {
		vars := map[string]string{}
		for _, m := range regexp.MustCompile(`--([a-z-]+): (#[0-9a-f]{6})`).FindAllStringSubmatch(block, -1) {
			if _, seen := vars[m[1]]; !seen {
				vars[m[1]] = m[2]
			}
		}
		pairs := []struct {
			fg, bg string
			min    float64
		}{
			{"fg", "card", 4.5}, {"fg", "bg", 4.5}, // text
			{"muted", "card", 4.5},                     // hints, the site's name
			{"bad", "card", 4.5},                       // errors
			{"on-accent", "accent", 4.5},               // buttons
			{"accent", "card", 3}, {"accent", "bg", 3}, // focus ring, notice bar
			{"muted", "card", 3}, // the field's border
		}
		for _, p := range pairs {
			a, b := vars[p.fg], vars[p.bg]
			if a == "" || b == "" {
				t.Fatalf("%s: --%s or --%s missing (%v)", scheme, p.fg, p.bg, vars)
			}
			if r := contrast(a, b); r < p.min {
				t.Errorf("%s: --%s %s on --%s %s: contrast %.2f, want at least %.1f", scheme, p.fg, a, p.bg, b, r, p.min)
			}
		}
	}
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		x := float64(v) / 255
		if x <= 0.03928 {
			c[i] = x / 12.92
		} else {
			c[i] = math.Pow((x+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTemplatesFolderReplacesThePageOrSaysWhyNot(t *testing.T) {
	good := `<!doctype html><html lang="{{.Lang}}"><title>{{template "title" .}}</title>` +
		`{{if eq .Kind "login"}}<form action="{{.Prefix}}login"><input name="jid"><input type=hidden name=csrf value="{{.CSRF}}"></form>{{else}}<p>{{.Kind}} {{.JID}} {{.Code}}</p>{{end}}`
	tests := []struct {
		name  string
		files map[string]string
		want  string // "" for success
	}{
		{"good, with a partial", map[string]string{"page.html": good, "parts.html": `{{define "title"}}{{.T.title_login}}{{end}}`, "notes.txt": "{{"}, ""},
		{"no page.html", map[string]string{"other.html": good}, "no page.html in this folder"},
		{"does not parse", map[string]string{"page.html": "<p>{{if .Kind}}</p>", "parts.html": `{{define "title"}}x{{end}}`}, "page.html:1"},
		{"only defines", map[string]string{"page.html": `{{define "x"}}<p>hi</p>{{end}}`}, "empty outside its {{define}} blocks"},
		{"unknown text", map[string]string{"page.html": `<p>{{.T.no_such_text}}</p>`}, `the login page in en does not render`},
		{"unknown field", map[string]string{"page.html": `<p>{{.Visitor}}</p>`}, "can't evaluate field Visitor"},
		{"missing define", map[string]string{"page.html": `<p>{{template "title" .}}</p>`}, `no such template "title"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			tmpl, err := loadTemplates(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = tmpl
				h := testGate(t, testService(t, nil, nil), Config{Templates: dir, SiteName: "wiki"}, Env{})
				w := httptest.NewRecorder()
				r := httptest.NewRequest("GET", "/.xmpp-auth/wait", nil)
				r.Header.Set("Accept-Language", "fr")
				if err := h.renderPage(w, r, 200, page{Kind: "wait", JID: "alice@example.org", Code: "K7QF2M"}); err != nil {
					t.Fatal(err)
				}
				if body := w.Body.String(); body != `<!doctype html><html lang="fr"><title>Connexion</title><p>wait alice@example.org K7QF2M</p>` {
					t.Errorf("custom page: %s", body)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want one naming %s and containing %q", err, dir, tt.want)
			}
		})
	}
	if _, err := loadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing folder: %v", err)
	}
}

func TestAGateReadsItsLanguageOptions(t *testing.T) {
	msgs := writeFiles(t, map[string]string{
		"good.lang": "# ours\nde=Anmeldung bei {site}: {code}\nfr=Connexion à _DOMAIN_ : _VALIDE_CODE_\n",
		"bad.lang":  "en={code}\n\nfr=Connexion à {site}\n",
	})
	svc := testService(t, nil, nil)
	h := testGate(t, svc, Config{Language: "de", Messages: filepath.Join(msgs, "good.lang")}, Env{})
	if h.langs.pageDefault != "en" || h.langs.msgDefault != "de" || strings.Join(h.langs.msgLangs, ",") != "de,en,fr" || h.pages != pageTemplate {
		t.Errorf("languages: %+v", h.langs)
	}
	for al, want := range map[string][2]string{
		"":                {"en", "de"},
		"fr":              {"fr", "fr"},
		"de-AT, en;q=0.9": {"en", "de"},
		"es":              {"en", "de"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", al)
		if p, m := h.pageLang(r), h.messageLang(r); p != want[0] || m != want[1] {
			t.Errorf("Accept-Language %q: pages %s, message %s; want %s, %s", al, p, m, want[0], want[1])
		}
	}
	body := h.xmppMessages().Body(xepauth.Request{Site: "wiki", Code: "K7QF2M", Language: "fr"})
	if body != "Connexion à wiki : K7QF2M" {
		t.Errorf("French body from the file: %q", body)
	}

	for name, tt := range map[string]struct {
		cfg  Config
		want string
	}{
		"bad messages file": {Config{Messages: filepath.Join(msgs, "bad.lang")}, "bad.lang, line 3 (fr): the text lacks {code}"},
		"no messages file":  {Config{Messages: filepath.Join(msgs, "none.lang")}, "messages: open " + filepath.Join(msgs, "none.lang")},
		"unknown language":  {Config{Language: "de"}, `language "de": the pages speak en, fr and the XMPP message en, fr`},
		"not a language":    {Config{Language: "français"}, `"français" is not a language tag`},
		"bad templates":     {Config{Templates: msgs}, "no page.html in this folder"},
		"regional default":  {Config{Language: "fr-CA"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			tt.cfg.Ring = testRing(t)
			g, err := NewGate(svc, tt.cfg, Env{})
			if tt.want == "" {
				if err != nil || g.langs.pageDefault != "fr" {
					t.Fatalf("err = %v, gate %v", err, g)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
