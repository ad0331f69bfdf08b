package xmpptest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// DIGEST-MD5 (RFC 2831) is obsolete (RFC 6331), but ejabberd still offers
// it when it stores passwords in plain text, and it carries an
// authorization identity as PLAIN does. ConnectRaw speaks it with
// WithDigestMD5 so that a test can see what a server makes of that
// identity; nothing else in the harness uses it.

// digestMD5 runs a DIGEST-MD5 exchange after <auth/> and reads the outcome.
func (c *rawSetup) digestMD5(authcid, password, authzid string) error {
	if err := c.write("<auth xmlns='" + nsSASL + "' mechanism='DIGEST-MD5'/>"); err != nil {
		return err
	}
	raw, err := c.saslStep()
	if err != nil {
		return err
	}
	ch := digestChallenge(raw)
	if ch["nonce"] == "" {
		return fmt.Errorf("DIGEST-MD5 challenge without a nonce: %q", raw)
	}
	realm := ch["realm"]
	if realm == "" {
		realm = c.domain
	}
	var cb [12]byte
	_, _ = rand.Read(cb[:])
	cnonce := hex.EncodeToString(cb[:])
	const nc, qop = "00000001", "auth"
	uri := "xmpp/" + c.domain

	inner := md5.Sum([]byte(authcid + ":" + realm + ":" + password))
	a1 := string(inner[:]) + ":" + ch["nonce"] + ":" + cnonce
	if authzid != "" {
		a1 += ":" + authzid
	}
	ha1 := md5.Sum([]byte(a1))
	ha2 := md5.Sum([]byte("AUTHENTICATE:" + uri))
	resp := md5.Sum([]byte(hex.EncodeToString(ha1[:]) + ":" + ch["nonce"] + ":" + nc + ":" + cnonce + ":" + qop + ":" + hex.EncodeToString(ha2[:])))

	fields := []string{
		`username="` + authcid + `"`, `realm="` + realm + `"`, `nonce="` + ch["nonce"] + `"`,
		`cnonce="` + cnonce + `"`, "nc=" + nc, "qop=" + qop, `digest-uri="` + uri + `"`,
		"response=" + hex.EncodeToString(resp[:]), "charset=utf-8",
	}
	if authzid != "" {
		fields = append(fields, `authzid="`+authzid+`"`)
	}
	msg := base64.StdEncoding.EncodeToString([]byte(strings.Join(fields, ",")))
	if err := c.write("<response xmlns='" + nsSASL + "'>" + msg + "</response>"); err != nil {
		return err
	}
	// The server proves it knows the password too (rspauth), in a second
	// challenge answered with an empty response, or in <success/> itself.
	if _, err := c.saslStep(); err != nil {
		if errors.Is(err, errSASLSuccess) {
			return nil
		}
		return err
	}
	if err := c.write("<response xmlns='" + nsSASL + "'/>"); err != nil {
		return err
	}
	if _, err := c.saslStep(); !errors.Is(err, errSASLSuccess) {
		if err == nil {
			err = errors.New("a third DIGEST-MD5 challenge")
		}
		return err
	}
	return nil
}

// errSASLSuccess is how saslStep reports <success/>.
var errSASLSuccess = errors.New("SASL success")

// saslStep reads the server's next SASL element: a challenge's decoded
// text, errSASLSuccess for <success/>, a *SASLError for <failure/>.
func (c *rawSetup) saslStep() (string, error) {
	raw, name, err := c.element()
	if err != nil {
		return "", fmt.Errorf("read SASL step: %w", err)
	}
	if name.Space != nsSASL {
		return "", fmt.Errorf("unexpected %s during SASL", raw)
	}
	switch name.Local {
	case "success":
		return "", errSASLSuccess
	case "failure":
		return "", saslFailure(raw)
	case "challenge":
		b, err := base64.StdEncoding.DecodeString(elementText(raw))
		if err != nil {
			return "", fmt.Errorf("SASL challenge %s: %w", raw, err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("unexpected %s during SASL", raw)
}

// elementText is the text between the first '>' and the last '<' of raw,
// the whole of a SASL challenge's content.
func elementText(raw string) string {
	i, j := strings.IndexByte(raw, '>'), strings.LastIndexByte(raw, '<')
	if i < 0 || j <= i {
		return ""
	}
	return raw[i+1 : j]
}

// digestChallenge reads a DIGEST-MD5 challenge's key=value pairs, values
// quoted or not; the servers' challenges hold no comma inside a value.
func digestChallenge(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}
