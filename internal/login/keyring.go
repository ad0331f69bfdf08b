package login

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// storageKey is where the generated session key is kept in Caddy's
// storage: one key for every site, since each cookie's MAC also covers its
// site.
const storageKey = "xmpp_auth/session_key"

// LoadRing returns the key ring of a gate: the configured keys (the first
// signs, all verify), each checked for real key material, or else the one
// key kept in st, generated there the first time.
func LoadRing(ctx context.Context, st Storage, configured []string) (*session.Ring, error) {
	if len(configured) > 0 {
		keys := make([]session.Key, len(configured))
		for i, secret := range configured {
			if err := checkKeyMaterial(secret); err != nil {
				return nil, fmt.Errorf("session key %d: %w", i+1, err)
			}
			k, err := session.KeyFromSecret([]byte(secret))
			if err != nil {
				return nil, fmt.Errorf("session key %d: %w (%s)", i+1, err, makeKeyHint)
			}
			keys[i] = k
		}
		return session.NewRing(keys...)
	}
	k, err := storedKey(ctx, st)
	if err != nil {
		return nil, err
	}
	return session.NewRing(k)
}

// checkKeyMaterial refuses a configured session key that is not at least
// 32 random bytes written in base64 (either alphabet, padded or not) or
// hex: "any 32 characters" let a passphrase, or a placeholder copied from
// an example, sign everyone's sessions. Random bytes are told from a
// pattern by their variety (32 random bytes almost never hold fewer than
// 16 distinct values: the chance is below 10^-12), and from words by how
// few small letters their encoding has. No test tells every passphrase
// from a key; these catch the usual ones. The key signs as the text it
// is, so sessions made with a key that passes survive this check.
func checkKeyMaterial(secret string) error {
	secret = strings.TrimSpace(secret)
	for _, decode := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
		hex.DecodeString,
	} {
		b, err := decode(secret)
		if err != nil || len(b) < session.MinSecretLen {
			continue
		}
		distinct := map[byte]bool{}
		for _, c := range b {
			distinct[c] = true
		}
		if len(distinct) < 16 {
			return errors.New("is not random: its bytes repeat a few values (" + makeKeyHint + ")")
		}
		// Words of letters decode as base64 too. In the base64 of random
		// bytes about two characters in five are small letters; more than
		// four in five happens once in tens of millions of keys, and in
		// nearly every passphrase.
		lower := 0
		for _, c := range secret {
			if 'a' <= c && c <= 'z' {
				lower++
			}
		}
		if lower*5 > len(secret)*4 {
			return errors.New("looks like words, not random bytes (" + makeKeyHint + ")")
		}
		return nil
	}
	return errors.New("must be at least 32 random bytes in base64 or hex (" + makeKeyHint + ")")
}

// makeKeyHint says how to make a session key.
const makeKeyHint = "make one with: openssl rand -base64 32, or: head -c 32 /dev/urandom | base64"

// storedKey loads the key from storage, or generates and stores it under
// the storage lock so that two instances sharing storage agree on one key.
func storedKey(ctx context.Context, st Storage) (session.Key, error) {
	raw, err := LoadOrCreate(ctx, st, storageKey, func() ([]byte, error) {
		k, err := session.GenerateKey()
		if err != nil {
			return nil, err
		}
		return []byte(base64.StdEncoding.EncodeToString(k.Secret) + "\n"), nil
	})
	if err != nil {
		return session.Key{}, err
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return session.Key{}, fmt.Errorf("%s in storage is not base64: %w", storageKey, err)
	}
	k, err := session.KeyFromSecret(secret)
	if err != nil {
		return session.Key{}, fmt.Errorf("%s in storage: %w", storageKey, err)
	}
	return k, nil
}
