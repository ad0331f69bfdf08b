package xepauth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxMessagesFile bounds a messages file: a few languages take a few KB.
const maxMessagesFile = 1 << 20

// ParseMessages reads a messages file, in the format of the reference
// component's messages.lang: one lang=text line per language (en=…,
// fr=…, pt-BR=…), with \n, \t, \r and \\ escapes in the text; lines starting
// with # and blank lines are ignored. The file must be UTF-8. name is how
// errors name the file.
//
// Every text must carry the code ({code} or _VALIDE_CODE_): the person
// compares it with the one on the page, and types it back when their client
// cannot answer the request.
func ParseMessages(name string, r io.Reader) (Messages, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxMessagesFile+1))
	if err != nil {
		return nil, fmt.Errorf("messages file %s: %w", name, err)
	}
	if len(data) > maxMessagesFile {
		return nil, fmt.Errorf("messages file %s: larger than %d bytes", name, maxMessagesFile)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	m := Messages{}
	first := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("messages file %s, line %d: not valid UTF-8 (save the file as UTF-8)", name, n)
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, text, ok := strings.Cut(trimmed, "=")
		if !ok {
			return nil, fmt.Errorf("messages file %s, line %d: want lang=text (like en=…), got %q", name, n, shorten(trimmed))
		}
		lang, err := NormaliseLanguage(key)
		if err != nil {
			return nil, fmt.Errorf("messages file %s, line %d: %w", name, n, err)
		}
		if prev, dup := first[lang]; dup {
			return nil, fmt.Errorf("messages file %s, line %d: %s is given twice (first on line %d)", name, n, lang, prev)
		}
		text = unescapeText(strings.TrimSpace(text))
		if err := checkText(text); err != nil {
			return nil, fmt.Errorf("messages file %s, line %d (%s): %w", name, n, lang, err)
		}
		first[lang] = n
		m[lang] = text
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("messages file %s: no lang=text line", name)
	}
	return m, nil
}

// Validate checks what ParseMessages checks, for Messages made in code.
func (m Messages) Validate() error {
	var errs []error
	for _, lang := range slices.Sorted(maps.Keys(m)) {
		if norm, err := NormaliseLanguage(lang); err != nil {
			errs = append(errs, err)
		} else if norm != lang {
			errs = append(errs, fmt.Errorf("language %q must be written %q", lang, norm))
		}
		if err := checkText(m[lang]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", lang, err))
		}
	}
	return errors.Join(errs...)
}

var langTag = regexp.MustCompile(`^[a-z]{2,8}(-[a-z0-9]{1,8})*$`)

// NormaliseLanguage returns a language tag in the form Messages keys use:
// lower case, with - between subtags (pt_BR and pt-BR both give pt-br). It
// fails when s is not a language tag.
func NormaliseLanguage(s string) (string, error) {
	lang := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
	if !langTag.MatchString(lang) {
		return "", fmt.Errorf("%q is not a language tag (like en, fr or pt-BR)", shorten(s))
	}
	return lang, nil
}

var fieldRef = regexp.MustCompile(`\{([A-Za-z_]+)\}`)

func checkText(text string) error {
	if text == "" {
		return errors.New("the text is empty")
	}
	for _, m := range fieldRef.FindAllStringSubmatch(text, -1) {
		switch m[1] {
		case "site", "url", "method", "code":
		default:
			return fmt.Errorf("unknown field %s; the fields are {site}, {url}, {method} and {code}", m[0])
		}
	}
	if !strings.Contains(text, "{code}") && !strings.Contains(text, "_VALIDE_CODE_") {
		return errors.New("the text lacks {code} (or _VALIDE_CODE_): the code must reach the user, " +
			"who compares it with the one on the page")
	}
	return nil
}

// unescapeText turns \n, \t, \r and \\ into what they stand for; any other
// backslash is kept as it is.
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
			continue
		}
		i++
	}
	return b.String()
}

func shorten(s string) string {
	const most = 60
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
