package login

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// apiParams are the API's parameters once checked.
type apiParams struct {
	jid       jid.JID
	domain    string
	url       string // for the <confirm/>
	method    string
	txid      string
	generated bool // txid was made here
	timeout   time.Duration
}

// errParam is a 400: what is wrong with the parameters.
type errParam string

func (e errParam) Error() string { return string(e) }

// parseAPIParams reads the parameters of a call from values (first value
// of each name; see splitParams); def is the timeout when none is given.
func parseAPIParams(values url.Values, def time.Duration) (apiParams, error) {
	var p apiParams
	get := values.Get

	raw := strings.TrimSpace(get("jid"))
	if raw == "" {
		return p, errParam("missing parameter jid")
	}
	j, err := jid.Parse(raw)
	switch {
	case err != nil || !canonicalJID(j):
		return p, errParam("jid is not a valid JID")
	case j.Localpart() == "":
		return p, errParam("jid has no local part (name@example.org)")
	case len(j.Bare().String()) > maxJIDLen:
		return p, errParam("jid is too long")
	case ipLiteralDomain(j.Domainpart()):
		return p, errParam("jid's domain is an IP address; the API asks only addresses on domain names")
	}
	if err := checkSpelling(raw, j); err != nil {
		return p, errParam("jid cannot be used: " + err.Error())
	}
	p.jid = j

	p.domain = strings.TrimSpace(get("domain"))
	switch {
	case p.domain == "":
		return p, errParam("missing parameter domain")
	case len(p.domain) > apiMaxDomain:
		return p, errParam("domain is too long")
	case strings.IndexFunc(p.domain, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return p, errParam("domain has spaces or control characters")
	}
	p.url = confirmURL(p.domain)

	p.method = get("method")
	if p.method == "" {
		return p, errParam("missing parameter method")
	}
	if err := xepauth.ValidMethod(p.method); err != nil {
		return p, errParam("method must be an XML NCName, like GET or POST")
	}

	if _, given := values["transaction_id"]; given {
		p.txid = get("transaction_id")
		if p.txid == "" {
			return p, errParam("transaction_id is empty; leave it out to have one generated")
		}
		if err := checkTxID(p.txid); err != nil {
			return p, errParam(err.Error())
		}
	} else {
		p.txid, p.generated = xepauth.NewCode(6), true
	}

	p.timeout = apiTimeout(get("timeout"), def)
	return p, nil
}

// confirmURL is the url of the <confirm/>: the domain when it is already
// an http(s) URL, else https:// and the domain.
func confirmURL(domain string) string {
	if u, err := url.Parse(domain); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return domain
	}
	return "https://" + domain
}

// apiTimeout reads the timeout parameter as the reference does: seconds,
// def when missing, not a number or not positive, at most 300.
func apiTimeout(s string, def time.Duration) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil || n <= 0:
		return def
	case n > int(APIMaxTimeout/time.Second):
		return APIMaxTimeout
	}
	return time.Duration(n) * time.Second
}

// splitParams parses a query string or a form whose pairs are separated by
// "&" or ";" (net/url refuses ";" since Go 1.17). Names and values are
// percent-decoded, "+" as a space. Pairs past most are an error, as is a
// bad escape.
func splitParams(raw string, most int) (url.Values, error) {
	out := url.Values{}
	n := 0
	for len(raw) > 0 {
		var pair string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		if pair == "" {
			continue
		}
		if n++; n > most {
			return nil, fmt.Errorf("more than %d parameters", most)
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("parameter name %q is not properly percent-encoded", shortenParam(pair))
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("parameter %q is not properly percent-encoded", shortenParam(k))
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func shortenParam(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// requestParams gathers the parameters of r: a POSTed form first, then
// the query.
func requestParams(r *http.Request) (url.Values, error) {
	values := url.Values{}
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-www-form-urlencoded" {
			body, err := io.ReadAll(io.LimitReader(r.Body, apiMaxBody+1))
			if err != nil {
				return nil, errors.New("could not read the form")
			}
			if len(body) > apiMaxBody {
				return nil, errors.New("form too large")
			}
			if values, err = splitParams(string(body), apiMaxParams); err != nil {
				return nil, err
			}
		}
	}
	query, err := splitParams(r.URL.RawQuery, apiMaxParams)
	if err != nil {
		return nil, err
	}
	for k, v := range query {
		values[k] = append(values[k], v...)
	}
	return values, nil
}
