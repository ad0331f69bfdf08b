package xepauth

import (
	"strings"
	"testing"
)

var sample = Request{Site: "wiki.example.org", URL: "https://wiki.example.org/page", Method: "GET", Code: "ABC234"}

func TestParseMessagesReadsTheReferenceFormat(t *testing.T) {
	file := "\ufeff# messages for the wiki\r\n" +
		"\n" +
		"en=_DOMAIN_ (method _METHOD_) asks who you are.\\nCode: _VALIDE_CODE_\\n\\tCheck it on _DOMAIN_.\r\n" +
		"  # an indented comment\n" +
		"fr = {site} demande une confirmation.\\nCode : {code}\\nAdresse : {url} ({method}) \n" +
		"pt_BR=Código: {code}, em {site}\n" +
		"de=Pfad C:\\\\wiki\\x {code}\n"
	m, err := ParseMessages("messages.lang", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"en":    "wiki.example.org (method GET) asks who you are.\nCode: ABC234\n\tCheck it on wiki.example.org.",
		"fr":    "wiki.example.org demande une confirmation.\nCode : ABC234\nAdresse : https://wiki.example.org/page (GET)",
		"pt-br": "Código: ABC234, em wiki.example.org",
		"de":    `Pfad C:\wiki\x ABC234`,
	}
	if len(m) != len(want) {
		t.Fatalf("parsed %d languages, want %d: %q", len(m), len(want), m)
	}
	for lang, body := range want {
		r := sample
		r.Language = lang
		if got := m.Body(r); got != body {
			t.Errorf("%s:\n got %q\nwant %q", lang, got, body)
		}
	}
	if err := m.Validate(); err != nil {
		t.Errorf("parsed messages do not validate: %v", err)
	}
}

func TestParseMessagesErrorsNameTheFileAndLine(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"no equals sign", "# c\nen hello {code}\n", "m.lang, line 2: want lang=text"},
		{"no code", "en=Hello from {site}\n", "m.lang, line 1 (en): the text lacks {code}"},
		{"legacy code is enough", "en=_VALIDE_CODE_\nfr=\n", "m.lang, line 2 (fr): the text is empty"},
		{"unknown field", "en={code} for {user}\n", "unknown field {user}"},
		{"bad language", "\n\nenglish!={code}\n", `m.lang, line 3: "english!" is not a language tag`},
		{"twice", "en={code}\nfr={code}\nEN={code}\n", "m.lang, line 3: en is given twice (first on line 1)"},
		{"not UTF-8", "en={code}\nfr=caf\xe9 {code}\n", "m.lang, line 2: not valid UTF-8"},
		{"empty", "# nothing\n\n", "m.lang: no lang=text line"},
		{"too large", "en={code}" + strings.Repeat("x", maxMessagesFile), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessages("m.lang", strings.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMessagesFallBackLanguageByLanguage(t *testing.T) {
	m := Messages{"en": "EN {code}", "fr-ca": "FR-CA {code}"}
	tests := map[string]string{
		"en":    "EN ABC234",
		"EN-gb": "EN ABC234",
		"fr-CA": "FR-CA ABC234",
		"fr_ca": "FR-CA ABC234",
		"fr":    DefaultMessages()["fr"], // m has no plain fr: the built-in one
		"fr-FR": DefaultMessages()["fr"],
		"de":    "EN ABC234", // nobody has German: m's English
		"":      "EN ABC234",
	}
	for lang, want := range tests {
		r := sample
		r.Language = lang
		want = fillBody(want, r)
		if got := m.Body(r); got != want {
			t.Errorf("%q: got %q, want %q", lang, got, want)
		}
	}
	// nil Messages are the built-in texts, and so is the package's Body.
	r := sample
	r.Language = "fr"
	if got, want := Messages(nil).Body(r), fillBody(DefaultMessages()["fr"], r); got != want {
		t.Errorf("nil Messages: %q", got)
	}
	r.Messages = m
	if got := r.Messages.Body(r); !strings.Contains(got, "vous demande de confirmer") {
		t.Errorf("Body with Request.Messages for fr: %q", got)
	}
	r.Language = "en"
	if got := r.Messages.Body(r); got != "EN ABC234" {
		t.Errorf("Body with Request.Messages for en: %q", got)
	}
}

func TestDefaultMessagesAreACopyAndValid(t *testing.T) {
	d := DefaultMessages()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	d["en"] = "changed {code}"
	if strings.HasPrefix(DefaultMessages()["en"], "changed") {
		t.Fatal("DefaultMessages hands out the built-in map itself")
	}
	if got := (Messages{"es": "{code}"}).Languages(); strings.Join(got, ",") != "en,es,fr" {
		t.Errorf("Languages = %v", got)
	}
}

func TestValidateRefusesMessagesMadeInCodeWithoutTheCode(t *testing.T) {
	err := Messages{"en": "no code here", "Fr": "{code}"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "en: the text lacks {code}") || !strings.Contains(err.Error(), `"Fr" must be written "fr"`) {
		t.Fatalf("err = %v", err)
	}
	// Ask refuses such a request before sending anything.
	r := sample
	r.Messages = Messages{"en": "no code here"}
	if err := validate(r); err == nil || !strings.Contains(err.Error(), "does not carry the code") {
		t.Fatalf("validate = %v", err)
	}
}
