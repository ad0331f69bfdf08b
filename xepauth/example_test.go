package xepauth_test

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// A gate makes one Component for the whole process, starts it, and asks
// through it for every login. Ask never returns an error: a request that
// cannot be sent is an outcome too. This component is never started, so
// its ask is unreachable at once.
func ExampleComponent_Ask() {
	comp, err := xepauth.New(xepauth.Config{
		Server: "127.0.0.1:5347",
		Domain: "auth.example.org",
		Secret: "the component secret",
	}, zap.NewNop())
	if err != nil {
		fmt.Println(err)
		return
	}
	// comp.Start() would dial in the background, and redial whenever the
	// connection drops; comp.Close() ends it and every ask in progress.
	defer comp.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := comp.Ask(ctx, xepauth.Request{
		JID:    jid.MustParse("alice@example.org"), // a bare JID: asked by message
		Site:   "The Wiki",
		URL:    "https://wiki.example.org/page",
		Method: "GET",
		Code:   xepauth.NewCode(6), // shown on the page, compared by the person
	})
	fmt.Println(o.Result)
	// Output: unreachable
}

// A code a person might have to type must not read as something else:
// not as a refusal, and not with invisible characters.
func ExampleValidCode() {
	for _, code := range []string{"K7QF2M", "NOPE42", "ab\u202ecd", "--"} {
		fmt.Printf("%q: %v\n", code, xepauth.ValidCode(code))
	}
	// Output:
	// "K7QF2M": <nil>
	// "NOPE42": code "NOPE42" reads as a refusal ("no") when typed
	// "ab\u202ecd": code has control or formatting characters
	// "--": code has no letters or digits
}

// An address a person typed is checked before it is asked: one that XMPP
// servers using stringprep read as another account cannot log in.
func ExampleUnambiguous() {
	for _, s := range []string{"alice@example.org", "jürgen@müller.example", "aliß@example.org"} {
		fmt.Println(s, xepauth.Unambiguous(jid.MustParse(s)))
	}
	// Output:
	// alice@example.org <nil>
	// jürgen@müller.example <nil>
	// aliß@example.org U+00DF 'ß' in the localpart is read as "ss" by XMPP servers that use stringprep (RFC 6122), but kept as it is by PRECIS (RFC 7622)
}

// The body of a message request is in the person's language, from the
// built-in texts or the operator's.
func ExampleMessages_Body() {
	msgs := xepauth.Messages{"en": "Log in to {site}? Code {code}."}
	r := xepauth.Request{Site: "The Wiki", Code: "K7QF2M", Language: "en-GB", Messages: msgs}
	fmt.Println(msgs.Body(r))
	// Output: Log in to The Wiki? Code K7QF2M.
}
