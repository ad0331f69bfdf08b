package login

import (
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// pageTexts are the pages' texts by language: one map per language, each
// with every key of textsEN (a test checks).
var pageTexts = map[string]map[string]string{
	"en": textsEN,
	"fr": textsFR,
}

// pageLanguages are the languages the pages speak, sorted.
var pageLanguages = slices.Sorted(maps.Keys(pageTexts))

// languages is what a gate or the API makes of its language, messages
// and templates options: what each request picks its languages from.
type languages struct {
	pageDefault string   // a key of pageTexts
	msgDefault  string   // the language option, normalised
	msgLangs    []string // languages the XMPP message has a text for
	messages    xepauth.Messages
}

// loadLanguages reads the language option, the messages file and the
// templates folder ("" for the built-in ones). The files are read when a
// config loads, so a reload picks up a change.
func loadLanguages(language, messagesFile, templatesDir string) (languages, *template.Template, error) {
	var l languages
	if messagesFile != "" {
		f, err := os.Open(messagesFile)
		if err != nil {
			return l, nil, fmt.Errorf("messages: %w", err)
		}
		m, err := xepauth.ParseMessages(messagesFile, f)
		f.Close()
		if err != nil {
			return l, nil, err
		}
		l.messages = m
	}
	l.msgLangs = l.messages.Languages()

	lang, err := xepauth.NormaliseLanguage(language)
	if err != nil {
		return l, nil, fmt.Errorf("language: %w", err)
	}
	pageLang, msgLang := lookupLang(lang, pageLanguages), lookupLang(lang, l.msgLangs)
	if pageLang == "" && msgLang == "" {
		return l, nil, fmt.Errorf("language %q: the pages speak %s and the XMPP message %s; a messages file can add languages to the message",
			language, strings.Join(pageLanguages, ", "), strings.Join(l.msgLangs, ", "))
	}
	l.pageDefault = cmp.Or(pageLang, "en")
	l.msgDefault = lang

	pages := pageTemplate
	if templatesDir != "" {
		if pages, err = loadTemplates(templatesDir); err != nil {
			return l, nil, err
		}
	}
	return l, pages, nil
}

// pageLang is the language of the pages for r: the best of Accept-Language
// among the pages' languages, else the site's default.
func (l languages) pageLang(r *http.Request) string {
	return negotiate(r.Header.Get("Accept-Language"), pageLanguages, cmp.Or(l.pageDefault, "en"))
}

// messageLang is the language of the XMPP message for a login started by
// r: the best of Accept-Language among the message's languages (those of
// the messages file too), else the site's default.
func (l languages) messageLang(r *http.Request) string {
	langs := l.msgLangs
	if langs == nil {
		langs = xepauth.Messages(nil).Languages()
	}
	return negotiate(r.Header.Get("Accept-Language"), langs, cmp.Or(l.msgDefault, "en"))
}

// pageLang, messageLang and xmppMessages are the gate's languages.
func (g *Gate) pageLang(r *http.Request) string    { return g.langs.pageLang(r) }
func (g *Gate) messageLang(r *http.Request) string { return g.langs.messageLang(r) }

// xmppMessages are the message texts of the messages file, or nil for the
// built-in ones.
func (g *Gate) xmppMessages() xepauth.Messages { return g.langs.messages }

// negotiate picks the language of supported (lower-case tags) that the
// Accept-Language header prefers, honouring q-values; def when none
// fits or the header is empty or says "*".
func negotiate(header string, supported []string, def string) string {
	type choice struct {
		tag string
		q   float64
	}
	var choices []choice
	// SplitN: a hostile header of a million commas costs 33 strings, not a
	// million.
	for i, part := range strings.SplitN(header, ",", 33) {
		if i == 32 { // a real header has a handful; ignore the rest of a silly one
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
		if tag == "" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // a malformed weight does not count
				}
				q = f
			}
		}
		if q > 0 {
			choices = append(choices, choice{tag, q})
		}
	}
	slices.SortStableFunc(choices, func(a, b choice) int { return cmp.Compare(b.q, a.q) })
	for _, c := range choices {
		if c.tag == "*" {
			return def
		}
		if l := lookupLang(c.tag, supported); l != "" {
			return l
		}
	}
	return def
}

// lookupLang finds tag in supported as RFC 4647 lookup does (fr-ca-x, then
// fr-ca, then fr), and failing that a more specific supported tag (pt-br
// for pt). "" when nothing fits.
func lookupLang(tag string, supported []string) string {
	for t := tag; t != ""; {
		if slices.Contains(supported, t) {
			return t
		}
		i := strings.LastIndexByte(t, '-')
		if i < 0 {
			break
		}
		t = t[:i]
	}
	for _, s := range supported {
		if strings.HasPrefix(s, tag+"-") {
			return s
		}
	}
	return ""
}
