package xepauth

import (
	"maps"
	"slices"
	"strings"
)

// Messages are the texts of the message that asks a bare JID, by language
// tag in lower case ("en", "fr", "pt-br"). A text names the login with the
// fields {site}, {url}, {method} and {code}; the reference component's
// placeholders _DOMAIN_ (the site), _METHOD_ and _VALIDE_CODE_ (the code)
// work too, so its messages.lang files can be used unchanged.
//
// Messages override the built-in texts (DefaultMessages) for the languages
// they name and add the others; a language neither knows gets English.
type Messages map[string]string

// defaultMessages are the built-in texts. They are copied out by
// DefaultMessages, so nobody can change them.
var defaultMessages = Messages{
	"en": "{site} asks you to confirm a login.\n\n" +
		"Code: {code}\n" +
		"URL: {url}\n" +
		"Method: {method}\n\n" +
		"Check that this code is the one shown on the page. " +
		"If you did not ask for it, refuse.\n\n" +
		"If your client cannot answer this request, reply with the code alone to approve, or with \"no\" to refuse.",
	"fr": "{site} vous demande de confirmer une connexion.\n\n" +
		"Code\u00a0: {code}\n" +
		"URL\u00a0: {url}\n" +
		"Méthode\u00a0: {method}\n\n" +
		"Vérifiez que ce code est bien celui affiché sur la page. " +
		"Si vous n'êtes pas à l'origine de cette demande, refusez-la.\n\n" +
		"Si votre client ne permet pas de répondre à cette demande, répondez à ce message avec le code seul pour accepter, " +
		"ou avec «\u00a0non\u00a0» pour refuser.",
}

// DefaultMessages returns a copy of the built-in texts: English and French.
func DefaultMessages() Messages { return maps.Clone(defaultMessages) }

// Body returns the human-readable text sent with a message request for r,
// in r.Language, with its fields filled in: the one way a body is made
// (a request's own is r.Messages.Body(r)). The text is looked up by the
// whole tag, then by its primary language (fr for fr-CA), then English; at
// each step m's own text comes before the built-in one. A nil m gives the
// built-in texts.
func (m Messages) Body(r Request) string {
	return fillBody(m.text(r.Language), r)
}

// text picks the template for a language tag.
func (m Messages) text(lang string) string {
	lang = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(lang), "_", "-"))
	candidates := []string{lang}
	if i := strings.IndexByte(lang, '-'); i > 0 {
		candidates = append(candidates, lang[:i])
	}
	candidates = append(candidates, "en")
	for _, c := range candidates {
		if t, ok := m[c]; ok && t != "" {
			return t
		}
		if t, ok := defaultMessages[c]; ok {
			return t
		}
	}
	return defaultMessages["en"]
}

// Languages returns the languages m and the built-in texts have a text for,
// sorted.
func (m Messages) Languages() []string {
	all := maps.Clone(defaultMessages)
	maps.Copy(all, m)
	return slices.Sorted(maps.Keys(all))
}

func fillBody(tmpl string, r Request) string {
	return strings.NewReplacer(
		"{site}", r.Site,
		"{url}", r.URL,
		"{method}", r.Method,
		"{code}", r.Code,
		"_DOMAIN_", r.Site,
		"_METHOD_", r.Method,
		"_VALIDE_CODE_", r.Code,
	).Replace(tmpl)
}
