package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MinSecretLen is the shortest secret a Key may have: 32 bytes, the output
// size of SHA-256, below which the HMAC would be weaker than the hash.
const MinSecretLen = 32

// maxKeyIDLen bounds the key ID so that it fits its one-byte length field
// with room to spare and keeps cookies short.
const maxKeyIDLen = 16

// keyIDLabel separates key IDs from any other use of SHA-256 over the same
// secret, so the ID reveals nothing usable about the secret.
const keyIDLabel = "xepauth session key id"

// Key is one HMAC-SHA256 key. ID travels in every cookie the key signs and
// selects the key when the cookie is opened; Secret never leaves the server.
type Key struct {
	ID     string
	Secret []byte
}

// KeyFromSecret makes a Key from configured secret bytes, which must be at
// least MinSecretLen long. Its ID is the hex encoding of the first four bytes
// of SHA-256("xepauth session key id" || secret), so configurations need not
// name their keys and the same secret always gets the same ID.
func KeyFromSecret(secret []byte) (Key, error) {
	if len(secret) < MinSecretLen {
		return Key{}, fmt.Errorf("session: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	h := sha256.New()
	h.Write([]byte(keyIDLabel))
	h.Write(secret)
	sum := h.Sum(nil)
	return Key{
		ID:     hex.EncodeToString(sum[:4]),
		Secret: append([]byte(nil), secret...),
	}, nil
}

// GenerateKey returns a fresh key with a random 32-byte secret, for servers
// that do not need cookies to survive a restart.
func GenerateKey() (Key, error) {
	secret := make([]byte, MinSecretLen)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("session: generating key: %w", err)
	}
	return KeyFromSecret(secret)
}

// String names the key by its ID only, so that logging a Key, or a struct
// holding one, never prints the secret.
func (k Key) String() string {
	return "session.Key(" + k.ID + ")"
}

// GoString is String for the %#v verb, for the same reason.
func (k Key) GoString() string {
	return k.String()
}
