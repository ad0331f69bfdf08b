package xepauth

import (
	"strings"
)

// bodies are the message texts, by language. The fields are those of the
// reference component's messages.lang, named: {site}, {url}, {method},
// {code}.
var bodies = map[string]string{
	"en": "{site} asks you to confirm a login.\n\n" +
		"Code: {code}\n" +
		"URL: {url}\n" +
		"Method: {method}\n\n" +
		"Check that this code is the one shown on the page. " +
		"If you did not ask for it, refuse.\n\n" +
		"If your client cannot answer this request, reply with the code alone to approve, or with \"no\" to refuse.",
	"fr": "{site} vous demande de confirmer une connexion.\n\n" +
		"Code : {code}\n" +
		"URL : {url}\n" +
		"Méthode : {method}\n\n" +
		"Vérifiez que ce code est celui affiché sur la page. " +
		"Si vous n'êtes pas à l'origine de cette demande, refusez-la.\n\n" +
		"Si votre client ne sait pas répondre à cette demande, répondez avec le code seul pour accepter, ou « no » pour refuser.",
}

// Body returns the human-readable text sent with a message request, in the
// request's language (English when unknown).
func Body(r Request) string {
	lang := strings.ToLower(r.Language)
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	tmpl, ok := bodies[lang]
	if !ok {
		tmpl = bodies["en"]
	}
	return strings.NewReplacer(
		"{site}", r.Site,
		"{url}", r.URL,
		"{method}", r.Method,
		"{code}", r.Code,
	).Replace(tmpl)
}
