package session_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// A cookie is sealed for one site and opens only there, until it expires.
func ExampleRing() {
	key, err := session.KeyFromSecret([]byte("32 bytes or more of a secret key, from a file"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ring, err := session.NewRing(key)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	cookie, err := ring.Seal(session.Session{JID: "alice@example.org", Issued: now, Expires: now.Add(24 * time.Hour)}, "wiki.example.org")
	if err != nil {
		fmt.Println(err)
		return
	}

	s, err := ring.Open(cookie, "wiki.example.org", now.Add(time.Hour))
	fmt.Println(s.JID, s.Expires, err)
	_, err = ring.Open(cookie, "git.example.org", now.Add(time.Hour))
	fmt.Println("on another site:", errors.Is(err, session.ErrBadMAC))
	_, err = ring.Open(cookie, "wiki.example.org", now.Add(25*time.Hour))
	fmt.Println("a day later:", errors.Is(err, session.ErrExpired))
	// Output:
	// alice@example.org 2026-12-02 09:00:00 +0000 UTC <nil>
	// on another site: true
	// a day later: true
}

// Keys rotate without logging anyone out: the new key signs, the old one
// still verifies until its cookies have expired.
func ExampleNewRing_rotation() {
	oldKey, _ := session.KeyFromSecret([]byte("the old secret key, 32 bytes or more long"))
	newKey, _ := session.KeyFromSecret([]byte("the new secret key, 32 bytes or more long"))
	before, _ := session.NewRing(oldKey)
	during, _ := session.NewRing(newKey, oldKey)
	after, _ := session.NewRing(newKey)

	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := session.Session{JID: "alice@example.org", Issued: now, Expires: now.Add(time.Hour)}
	oldCookie, _ := before.Seal(s, "wiki.example.org")

	_, err := during.Open(oldCookie, "wiki.example.org", now)
	fmt.Println("during the rotation:", err)
	_, err = after.Open(oldCookie, "wiki.example.org", now)
	fmt.Println("after it:", errors.Is(err, session.ErrUnknownKey))
	// Output:
	// during the rotation: <nil>
	// after it: true
}
