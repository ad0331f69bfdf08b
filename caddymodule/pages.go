package caddymodule

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
)

//go:embed pages/*.html
var pageFiles embed.FS

// pageTemplate is parsed once: the pages are part of the binary and do not
// change while it runs.
var pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/*.html"))

// page is what a gate page shows. Kind picks the page: login, wait,
// denied, timeout, unreachable, notallowed, expired, notfound.
type page struct {
	Kind    string
	Site    string
	Prefix  string
	Return  string // where "try again" and a finished login lead
	JID     string
	Code    string
	Error   string
	Seconds int
	Limit   string // for busy: "jid", "ip" or "all"
	CSRF    string // the login form's token
	Resend  bool   // the request that met the gate carried a form, which was not delivered
	Nonce   string
}

// renderPage writes a gate page. The pages need nothing from outside: the
// style is inline and the one script carries a per-response nonce, so the
// Content-Security-Policy can forbid everything else.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, p page) error {
	p.Site = h.siteName(r)
	p.Prefix = h.PathPrefix
	if p.Kind == "login" {
		p.CSRF = h.formToken(w, r)
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	p.Nonce = base64.StdEncoding.EncodeToString(nonce[:])

	var buf bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&buf, "page.html", p); err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
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
