package caddymodule

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"
	"sync"
)

// The waiting page is what a login form is answered with, so it is the
// page a burst of logins (a class logging in at nine) renders most. Running
// the template costs tens of microseconds of reflection, escaping and stack
// growth per page; yet for one site, language and path prefix only four
// values change from one login to the next. waitPages renders the page once
// with a marker in place of each of them, keeps the text between the
// markers, and from then on only escapes the four values into place.
//
// A template (built-in or from the templates folder) may use the values
// differently: in a script, in a URL, or not at all, or it may show other
// fields. So before a prepared page is used it must give exactly what the
// template gives for two sample logins that differ in every field; if not,
// that page is always rendered by the template.

// waitPageKey is what a prepared waiting page is made for: everything that
// shapes the page except the four values.
type waitPageKey struct {
	lang, site, prefix string
	resend             bool
}

// waitPage is a prepared waiting page: parts[0], value of holes[0],
// parts[1], … parts[len(holes)].
type waitPage struct {
	parts []string
	holes []byte // the markers' letters: J (JID), C (code), S (seconds), N (nonce)
}

// maxWaitPages bounds the prepared pages: the site name can come from the
// Host header, so the keys are not bounded by the config.
const maxWaitPages = 64

// waitPages holds the prepared waiting pages of one handler's template.
type waitPages struct {
	tmpl *template.Template

	mu    sync.Mutex
	pages map[waitPageKey]*waitPage // nil: the template's own rendering must be used
}

func newWaitPages(tmpl *template.Template) *waitPages {
	return &waitPages{tmpl: tmpl, pages: make(map[waitPageKey]*waitPage)}
}

// marker is the placeholder for a value while a page is prepared: a
// private-use character, which html/template does not escape and which no
// text or JID of ours contains, and the value's letter.
func marker(letter byte) string { return "\ue000" + string(letter) + "\ue001" }

// render writes p (a wait page, translated) into buf from the prepared
// page, preparing it first if needed. It reports false when the template
// must render this page itself.
func (wp *waitPages) render(buf *bytes.Buffer, p *page) bool {
	key := waitPageKey{p.Lang, p.Site, p.Prefix, p.Resend}
	wp.mu.Lock()
	prepared, known := wp.pages[key]
	full := len(wp.pages) >= maxWaitPages
	wp.mu.Unlock()
	if !known && full {
		return false // preparing a page that cannot be kept costs three renders
	}
	if !known {
		prepared = wp.prepare(*p)
		wp.mu.Lock()
		if len(wp.pages) < maxWaitPages {
			wp.pages[key] = prepared
		}
		wp.mu.Unlock()
	}
	if prepared == nil {
		return false
	}
	prepared.write(buf, p)
	return true
}

// write fills p's values into the prepared page, escaped as html/template
// escapes text and quoted attributes.
func (w *waitPage) write(buf *bytes.Buffer, p *page) {
	buf.WriteString(w.parts[0])
	for i, h := range w.holes {
		switch h {
		case 'J':
			writeHTMLEscaped(buf, p.JID)
		case 'C':
			writeHTMLEscaped(buf, p.Code)
		case 'S':
			buf.WriteString(strconv.Itoa(p.Seconds))
		case 'N':
			writeHTMLEscaped(buf, p.Nonce)
		}
		buf.WriteString(w.parts[i+1])
	}
}

// prepare renders the page with markers and checks the result against the
// template on two sample logins. It returns nil when the two disagree, or
// when the template fails.
func (wp *waitPages) prepare(p page) *waitPage {
	p.JID, p.Code, p.Nonce, p.secondsText = marker('J'), marker('C'), marker('N'), marker('S')
	p.translate(p.Lang)
	var buf bytes.Buffer
	if wp.tmpl.ExecuteTemplate(&buf, "page.html", p) != nil {
		return nil
	}
	w := &waitPage{}
	rest := buf.String()
	for {
		i := strings.Index(rest, "\ue000")
		if i < 0 || len(rest) < i+len(marker('J')) || rest[i:i+len(marker('J'))] != marker(rest[i+3]) || !strings.ContainsRune("JCSN", rune(rest[i+3])) {
			break
		}
		w.parts = append(w.parts, rest[:i])
		w.holes = append(w.holes, rest[i+3])
		rest = rest[i+len(marker('J')):]
	}
	if strings.Contains(rest, "\ue000") { // a marker the template changed: escaped, cut, …
		return nil
	}
	w.parts = append(w.parts, rest)

	// Two logins that differ in every field a template can show.
	a, b := p, p
	// Every character some html/template context escapes differently is in
	// a's JID, so a marker in any context but text or a quoted attribute
	// makes a differ.
	a.JID, a.Code, a.Seconds, a.Nonce, a.Return, a.CSRF = "o'brien+\"q\"&<x>@example.org/a b\t=`\\/\n\u2028:;(){}%", "K7QF2M", 120, "c2Fta+/=", "/a?x=1&y='2'", "tok-a"
	b.JID, b.Code, b.Seconds, b.Nonce, b.Return, b.CSRF, b.Error, b.Limit = "b@example.net/phone", "ZZ99AB", 7, "bm9uY2U", "/b", "tok-b", "err_jid_invalid", "jid"
	for _, s := range []page{a, b} {
		s.secondsText = ""
		s.translate(s.Lang)
		var want, got bytes.Buffer
		if wp.tmpl.ExecuteTemplate(&want, "page.html", s) != nil {
			return nil
		}
		w.write(&got, &s)
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			return nil
		}
	}
	return w
}

// writeHTMLEscaped writes s escaped as html/template escapes a value in
// HTML text and in a quoted attribute.
func writeHTMLEscaped(buf *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '\'':
			esc = "&#39;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '+':
			esc = "&#43;"
		case 0:
			esc = "\uFFFD"
		default:
			continue
		}
		buf.WriteString(s[last:i])
		buf.WriteString(esc)
		last = i + 1
	}
	buf.WriteString(s[last:])
}
