package caddymodule

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
)

// renderBoth renders a waiting page for jid through the prepared page and
// through the template alone, and says whether the prepared one was used.
func renderBoth(t *testing.T, tmpl *template.Template, p page) (prepared, plain string, used bool) {
	t.Helper()
	p.Kind = "wait"
	var a, b bytes.Buffer
	used = newWaitPages(tmpl).render(&a, &p)
	p.translate(p.Lang)
	if err := tmpl.ExecuteTemplate(&b, "page.html", p); err != nil {
		t.Fatal(err)
	}
	return a.String(), b.String(), used
}

func TestThePreparedWaitingPageIsTheTemplatesOwn(t *testing.T) {
	for _, p := range []page{
		{Lang: "en", Site: "wiki.example.org", Prefix: "/.xmpp-auth/", JID: "alice@example.org", Code: "K7QF2M", Seconds: 120, Nonce: "abc+/="},
		{Lang: "fr", Site: "wiki.example.org", Prefix: "/auth/", JID: `o'neil+x@example.org/phone "1"`, Code: "ABCDEF", Seconds: 5, Nonce: "n", Resend: true},
		{Lang: "en", Site: `<script>"&'`, Prefix: "/.xmpp-auth/", JID: "a&b<c>@x\x00", Code: "Z", Seconds: 0, Nonce: "+"},
	} {
		prepared, plain, used := renderBoth(t, pageTemplate, p)
		if !used {
			t.Errorf("%s/%s: the built-in waiting page is not prepared", p.Lang, p.Site)
		}
		if prepared != plain {
			t.Errorf("%s/%s: the prepared page differs from the template's:\n%s\n----\n%s", p.Lang, p.Site, prepared, plain)
		}
	}
}

func TestATemplateThePreparedPageCannotFollowIsRenderedByTheTemplate(t *testing.T) {
	tests := map[string]string{
		"shows the return path":                 `{{if eq .Kind "wait"}}<a href="{{.Return}}">{{.Code}}</a>{{end}}`,
		"puts the JID in a script":              `{{if eq .Kind "wait"}}<script nonce="{{.Nonce}}">const j = {{.JID}};</script>{{end}}`,
		"puts the code in a URL":                `{{if eq .Kind "wait"}}<a href="/x?c={{.Code}}&j={{.JID}}">x</a>{{end}}`,
		"prints the seconds as a number":        `{{if eq .Kind "wait"}}<p>{{.Seconds}}</p>{{end}}`,
		"puts the JID in an unquoted attribute": `{{if eq .Kind "wait"}}<p title={{.JID}}>x</p>{{end}}`,
		"puts the JID in a style":               `{{if eq .Kind "wait"}}<p style="content: '{{.JID}}'">x</p>{{end}}`,
		"cuts the JID":                          `{{if eq .Kind "wait"}}<p>{{slice .JID 0 1}}</p>{{end}}`,
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			tmpl := template.Must(newPageTemplate().Parse(text))
			p := page{Lang: "en", Site: "s", Prefix: "/p/", JID: "alice@example.org", Code: "K7QF2M", Seconds: 9, Nonce: "n", Return: "/r"}
			prepared, plain, used := renderBoth(t, tmpl, p)
			if used {
				t.Errorf("prepared anyway: %q (template: %q)", prepared, plain)
			}
			if strings.Contains(plain, "\ue000") {
				t.Errorf("a marker leaked into the page: %q", plain)
			}
		})
	}
}

// Once the prepared pages are at their bound (the site name may come from
// the Host header), a new key is rendered by the template without being
// prepared, which would cost three renders for nothing.
func TestNoWaitingPageIsPreparedBeyondTheBound(t *testing.T) {
	wp := newWaitPages(pageTemplate)
	for i := range maxWaitPages {
		wp.pages[waitPageKey{lang: "en", site: strings.Repeat("x", i+1)}] = &waitPage{}
	}
	p := page{Kind: "wait", Lang: "en", Site: "new.example.org", Prefix: "/p/", JID: "a@b", Code: "C", Nonce: "n"}
	var buf bytes.Buffer
	if wp.render(&buf, &p) || buf.Len() != 0 || len(wp.pages) != maxWaitPages {
		t.Errorf("rendered %d bytes, %d pages kept", buf.Len(), len(wp.pages))
	}
}
