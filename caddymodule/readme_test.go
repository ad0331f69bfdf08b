package caddymodule

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// readmeBlock returns the first fenced code block of the given language in
// README.md that contains marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	return fencedBlock(t, "../README.md", lang, marker)
}

// fencedBlock returns the first fenced code block of lang in the Markdown
// file at path that contains marker.
func fencedBlock(t *testing.T, path, lang, marker string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		if strings.Contains(m[1], marker) {
			return m[1]
		}
	}
	t.Fatalf("%s has no %s block containing %q", path, lang, marker)
	return ""
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(v any) []string {
	var out []string
	typ := reflect.TypeOf(v)
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// The README's full examples are the reference: every option is in both,
// and the Caddyfile one is valid.
func TestREADMEShowsEveryOptionInCaddyfileAndJSON(t *testing.T) {
	caddyfileEx := readmeBlock(t, "caddyfile", "session_lifetime")
	jsonEx := readmeBlock(t, "json", `"handler": "xmpp_auth"`)
	var parsed map[string]any
	if err := json.Unmarshal([]byte(jsonEx), &parsed); err != nil {
		t.Fatalf("the README's JSON example does not parse: %v", err)
	}
	adapted := string(adapt(t, []byte(caddyfileEx)))

	for _, f := range append(jsonFields(Handler{}), append(jsonFields(App{}), jsonFields(Limits{})...)...) {
		if !strings.Contains(jsonEx, `"`+f+`"`) {
			t.Errorf("the README's JSON example lacks %q", f)
		}
	}
	for _, f := range append(jsonFields(Handler{}), jsonFields(App{})...) {
		if f == "session_keys" || f == "limits" {
			continue // adapted from session_key and a nested block
		}
		if !strings.Contains(adapted, `"`+f+`"`) {
			t.Errorf("the README's Caddyfile example does not set %q", f)
		}
	}
	for _, f := range []string{`"session_keys"`, `"limits"`, `"jid_open"`, `"max_pending"`} {
		if !strings.Contains(adapted, f) {
			t.Errorf("the README's Caddyfile example does not set %s", f)
		}
	}
}
