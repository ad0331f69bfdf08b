package login

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

//go:embed pages/*.html
var pageFiles embed.FS

// pageTemplate is the built-in page, parsed once: it is part of the binary
// and does not change while it runs. The templates option replaces it.
var pageTemplate = template.Must(newPageTemplate().ParseFS(pageFiles, "pages/*.html"))

// newPageTemplate is where every page template starts, built-in or not: a
// missing key (.T.no_such_text) is an error, not an empty string.
func newPageTemplate() *template.Template {
	return template.New("page.html").Option("missingkey=error")
}

// page is what a gate page shows: the data of the template page.html
// (documented in the README, under "Languages and templates"). Kind picks
// the page: login, wait, resume, logout, denied, timeout, unreachable, notallowed, busy,
// forbidden, loggedout, expired, notfound; and the OpenID provider's
// consent and invalid.
type page struct {
	Kind    string
	Lang    string            // the page's language, for <html lang>: en, fr
	T       map[string]string // the texts in Lang, fields filled in
	Title   string            // T["title_"+Kind]
	Site    string
	Prefix  string
	Return  string // where "try again" and a finished login lead
	JID     string
	Code    string
	Error   string // on the login page: a key of T when set by the gate, shown as its text
	Seconds int
	Limit   string // for busy: "jid", "ip" or "all"
	CSRF    string // the token of the login form or the consent form
	Secret  string // on the waiting page: the login's secret, posted back by its script and button
	Resend  bool   // the request that met the gate carried a form, which was not delivered
	Nonce   string
	Client  string   // on the consent page: the application that asks
	Claims  []string // on the consent page: keys of T, what the application would learn
}

// renderPage writes a gate page. The pages need nothing from outside: the
// style is inline and the one script carries a per-response nonce, so the
// Content-Security-Policy can forbid everything else.
func (g *Gate) renderPage(w http.ResponseWriter, r *http.Request, status int, p page) error {
	p.Site = g.siteName(r)
	p.Prefix = g.cfg.PathPrefix
	if p.Kind == "login" || p.Kind == "consent" {
		p.CSRF = g.formToken(w, r)
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	p.Nonce = base64.StdEncoding.EncodeToString(nonce[:])
	p.Lang = g.pageLang(r)

	tmpl := g.pages
	if tmpl == nil {
		tmpl = pageTemplate
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer func() {
		// A page far larger than ours (a custom template gone wild) is not
		// kept, so the pool cannot pin it.
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			pageBuffers.Put(buf)
		}
	}()
	p.translate(p.Lang)
	if err := tmpl.ExecuteTemplate(buf, "page.html", p); err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Language", p.Lang)
	hdr.Add("Vary", "Accept-Language")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+p.Nonce+
		"'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// pageBuffers holds the buffers pages are rendered into before they are
// sent (an error halfway must not leave half a page): a page is several
// kilobytes, and growing a fresh buffer to that size for every page cost
// more than a tenth of rendering it.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// translate sets the page's language and texts: each text with {site},
// {jid}, {code} and {seconds} filled in, and the error key turned into its
// text.
func (p *page) translate(lang string) {
	src, ok := pageTexts[lang]
	if !ok {
		lang, src = "en", pageTexts["en"]
	}
	p.Lang = lang
	// Most texts have nothing to fill in: the map is cloned whole (a copy
	// of its tables, far cheaper than inserting each text) and only the
	// texts with placeholders are rewritten.
	p.T = maps.Clone(src)
	for _, k := range textsToFill[lang] {
		p.T[k] = p.fill(src[k])
	}
	p.Title = p.T["title_"+p.Kind]
	if t, ok := p.T[p.Error]; ok && strings.HasPrefix(p.Error, "err_") {
		p.Error = t
	}
}

// textsToFill lists, by language, the keys of the texts that have a
// placeholder; they are the only ones translate rewrites.
var textsToFill = func() map[string][]string {
	m := make(map[string][]string, len(pageTexts))
	for lang, texts := range pageTexts {
		for k, v := range texts {
			if strings.Contains(v, "{") {
				m[lang] = append(m[lang], k)
			}
		}
	}
	return m
}()

// fill replaces {site}, {jid}, {code}, {seconds} and {client} in text; anything else
// in braces stays as it is.
func (p *page) fill(text string) string {
	var b strings.Builder
	b.Grow(len(text) + len(p.JID) + len(p.Site))
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		text = text[i:]
		switch {
		case strings.HasPrefix(text, "{site}"):
			b.WriteString(p.Site)
		case strings.HasPrefix(text, "{jid}"):
			b.WriteString(p.JID)
		case strings.HasPrefix(text, "{code}"):
			b.WriteString(p.Code)
		case strings.HasPrefix(text, "{seconds}"):
			b.WriteString(strconv.Itoa(p.Seconds))
		case strings.HasPrefix(text, "{client}"):
			b.WriteString(p.Client)
		default:
			b.WriteByte('{')
			text = text[1:]
			continue
		}
		text = text[strings.IndexByte(text, '}')+1:]
	}
}

// samplePages are one of each page the gate shows, with every optional
// part: a template must render them all, in every language, to be used.
func samplePages() []page {
	base := page{Site: "wiki.example.org", Prefix: "/.xmpp-auth/", Return: "/private/page?x=1", JID: "alice@example.org",
		Code: "K7QF2M", Seconds: 120, CSRF: "sample-token", Secret: "c2FtcGxlLXNlY3JldA", Nonce: "c2FtcGxlLW5vbmNl"}
	var out []page
	add := func(kind string, change func(*page)) {
		p := base
		p.Kind = kind
		if change != nil {
			change(&p)
		}
		out = append(out, p)
	}
	add("login", func(p *page) { p.JID = "" })
	add("login", func(p *page) { p.JID, p.Error, p.Resend = "not an address", "err_jid_invalid", true })
	add("wait", nil)
	add("wait", func(p *page) { p.Resend = true })
	add("resume", func(p *page) { p.JID, p.Code, p.Secret = "", "", "" })
	add("denied", nil)
	add("timeout", nil)
	add("unreachable", nil)
	add("unreachable", func(p *page) { p.JID = "" })
	add("notallowed", nil)
	for _, limit := range []string{"all", "ip", "jid"} {
		add("busy", func(p *page) { p.Limit = limit })
	}
	add("forbidden", nil)
	add("consent", func(p *page) {
		p.Client, p.Claims = "Grafana", []string{"claim_openid", "claim_profile", "claim_email", "claim_offline_access"}
	})
	add("invalid", func(p *page) { p.Error = "The requested redirect_uri is missing in the client configuration." })
	add("logout", nil)
	add("loggedout", nil)
	add("expired", nil)
	add("notfound", nil)
	return out
}

// checkPages renders every sample page in every language, so that a
// template that refers to a missing text or field fails when the config
// is loaded instead of in front of a visitor.
func checkPages(t *template.Template) error {
	for _, lang := range pageLanguages {
		for _, p := range samplePages() {
			p.translate(lang)
			if err := t.ExecuteTemplate(io.Discard, "page.html", p); err != nil {
				return fmt.Errorf("the %s page in %s does not render: %w", p.Kind, lang, err)
			}
		}
	}
	return nil
}

// loadTemplates reads the templates option's folder: its page.html
// replaces the built-in page, and its other .html files are parsed with
// it, for the {{define}}s page.html may use.
func loadTemplates(dir string) (*template.Template, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	var files []string
	found := false
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
		found = found || e.Name() == "page.html"
	}
	if !found {
		return nil, fmt.Errorf("templates %s: no page.html in this folder; it is the file that replaces the built-in page", dir)
	}
	t, err := newPageTemplate().ParseFiles(files...)
	if err != nil {
		return nil, fmt.Errorf("templates %s: %w", dir, err)
	}
	if main := t.Lookup("page.html"); main == nil || main.Tree == nil || strings.TrimSpace(main.Tree.Root.String()) == "" {
		return nil, fmt.Errorf("templates %s: page.html is empty outside its {{define}} blocks; it must be the page itself", dir)
	}
	if err := checkPages(t); err != nil {
		return nil, fmt.Errorf("templates %s: page.html: %w", dir, err)
	}
	return t, nil
}
