package openid

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// The signing keys are RSA (RS256), the one algorithm every relying party
// supports and OpenID Connect Core §15.1 requires, which signs by default;
// and ECDSA P-256 (ES256), for the clients configured for it. They are
// made here,
// kept in storage so that every server sharing it signs with the same one
// and a restart changes nothing, and rotated:
//
//   - each algorithm has its keys; a key signs for KeyRotation, from its
//     start;
//   - its successor is made and published ahead of that start (half a
//     rotation ahead, at most a day), so that relying parties that cache
//     the key set have it before the first token it signs;
//   - a key that no longer signs stays published until the last token it
//     signed has expired, then goes.
//
// A relying party never sees a token whose key it cannot fetch.

// rsaBits is the size of the RSA keys: 2048 bits, what every relying party
// accepts and NIST SP 800-57 deems fine to 2030.
const rsaBits = 2048

// algorithms are the signing algorithms, each with its keys; the first
// signs unless a client asks for another.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// storedKey is a signing key as storage keeps it.
type storedKey struct {
	ID    string                  `json:"kid"`
	Alg   jose.SignatureAlgorithm `json:"alg"`
	Start time.Time               `json:"start"` // when it begins to sign
	DER   []byte                  `json:"pkcs8"` // the private key
}

// signingKey is a key in use.
type signingKey struct {
	storedKey
	priv crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// keyring holds the keys, refreshed from storage when an event (a start,
// a retirement, a successor due) comes, and at least hourly, which is how
// a server learns of a key another server made.
type keyring struct {
	st       login.Storage
	path     string
	rotation time.Duration
	keep     time.Duration // how long a retired key stays published
	now      func() time.Time

	mu        sync.Mutex
	keys      []signingKey // oldest first
	nextCheck time.Time
}

// ahead is how long before its start a key is published.
func (kr *keyring) ahead() time.Duration { return min(kr.rotation/2, 24*time.Hour) }

// current returns the keys, refreshed and rotated if due.
func (kr *keyring) current(ctx context.Context) ([]signingKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	now := kr.now()
	if kr.keys != nil && now.Before(kr.nextCheck) {
		return kr.keys, nil
	}
	keys, err := kr.rotate(ctx, now)
	if err != nil {
		if kr.keys != nil {
			// Storage is down: keep signing with what there is, and try
			// again in a minute.
			kr.nextCheck = now.Add(time.Minute)
			return kr.keys, nil
		}
		return nil, err
	}
	kr.keys = keys
	kr.nextCheck = kr.next(keys, now)
	return keys, nil
}

// rotate loads the keys from storage and makes, retires and stores what is
// due, under the storage's lock.
func (kr *keyring) rotate(ctx context.Context, now time.Time) ([]signingKey, error) {
	if err := kr.st.Lock(ctx, kr.path); err != nil {
		return nil, fmt.Errorf("lock the signing keys: %w", err)
	}
	defer func() { _ = kr.st.Unlock(context.WithoutCancel(ctx), kr.path) }()
	keys, err := kr.load(ctx)
	if err != nil {
		return nil, err
	}
	var out []signingKey
	changed := false
	for _, alg := range algorithms {
		ks, c, err := kr.rotateAlg(of(keys, alg), alg, now)
		if err != nil {
			return nil, err
		}
		out, changed = append(out, ks...), changed || c
	}
	if changed {
		if err := kr.save(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rotateAlg makes and retires the keys of one algorithm, oldest first, and
// reports whether it changed them.
func (kr *keyring) rotateAlg(keys []signingKey, alg jose.SignatureAlgorithm, now time.Time) ([]signingKey, bool, error) {
	changed := false
	if len(keys) == 0 {
		// The first key signs at once: nobody can have cached a key set
		// without it.
		k, err := newKey(alg, now)
		if err != nil {
			return nil, false, err
		}
		keys, changed = []signingKey{k}, true
	}
	if last := keys[len(keys)-1]; !now.Before(last.Start.Add(kr.rotation - kr.ahead())) {
		// Published ahead even when nothing asked for the keys in time: a
		// late successor starts later, and the current key signs until then.
		k, err := newKey(alg, maxTime(last.Start.Add(kr.rotation), now.Add(kr.ahead())))
		if err != nil {
			return nil, false, err
		}
		keys, changed = append(keys, k), true
	}
	// A key is retired once its successor has signed for keep.
	for len(keys) > 1 && !now.Before(keys[1].Start.Add(kr.keep)) {
		keys, changed = keys[1:], true
	}
	return keys, changed, nil
}

// of is the keys of one algorithm, in their order.
func of(keys []signingKey, alg jose.SignatureAlgorithm) []signingKey {
	var out []signingKey
	for _, k := range keys {
		if k.Alg == alg {
			out = append(out, k)
		}
	}
	return out
}

// next is when the keys must be looked at again.
func (kr *keyring) next(keys []signingKey, now time.Time) time.Time {
	next := now.Add(time.Hour)
	for _, alg := range algorithms {
		ks := of(keys, alg)
		if len(ks) == 0 {
			continue
		}
		if due := ks[len(ks)-1].Start.Add(kr.rotation - kr.ahead()); due.Before(next) {
			next = due
		}
		for i := 1; i < len(ks); i++ {
			for _, t := range []time.Time{ks[i].Start, ks[i].Start.Add(kr.keep)} {
				if t.After(now) && t.Before(next) {
					next = t
				}
			}
		}
	}
	return next
}

// signer is the key of alg that signs at now: the last one that has
// started.
func signer(keys []signingKey, alg jose.SignatureAlgorithm, now time.Time) signingKey {
	ks := of(keys, alg)
	s := ks[0]
	for _, k := range ks[1:] {
		if !now.Before(k.Start) {
			s = k
		}
	}
	return s
}

func newKey(alg jose.SignatureAlgorithm, start time.Time) (signingKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		err = fmt.Errorf("no keys for %s", alg)
	}
	if err != nil {
		return signingKey{}, fmt.Errorf("generate a signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return signingKey{}, fmt.Errorf("encode a signing key: %w", err)
	}
	return signingKey{storedKey: storedKey{ID: newID(), Alg: alg, Start: start.UTC(), DER: der}, priv: priv}, nil
}

func (kr *keyring) load(ctx context.Context) ([]signingKey, error) {
	b, err := kr.st.Load(ctx, kr.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load the signing keys: %w", err)
	}
	var stored []storedKey
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, fmt.Errorf("the signing keys in storage (%s) are unreadable: %w", kr.path, err)
	}
	keys := make([]signingKey, 0, len(stored))
	for _, s := range stored {
		if s.Alg == "" {
			s.Alg = jose.RS256 // kept before there were two algorithms
		}
		priv, err := x509.ParsePKCS8PrivateKey(s.DER)
		ok := false
		switch priv.(type) {
		case *rsa.PrivateKey:
			ok = s.Alg == jose.RS256
		case *ecdsa.PrivateKey:
			ok = s.Alg == jose.ES256
		}
		if err != nil || !ok || s.ID == "" {
			return nil, fmt.Errorf("the signing key %q in storage (%s) is unreadable", s.ID, kr.path)
		}
		keys = append(keys, signingKey{storedKey: s, priv: priv.(crypto.Signer)})
	}
	return keys, nil
}

func (kr *keyring) save(ctx context.Context, keys []signingKey) error {
	stored := make([]storedKey, len(keys))
	for i, k := range keys {
		stored[i] = k.storedKey
	}
	b, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	if err := kr.st.Store(ctx, kr.path, b); err != nil {
		return fmt.Errorf("store the signing keys: %w", err)
	}
	return nil
}

// SignatureAlgorithm implements op.SigningKey.
func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.Alg }

// Key implements op.SigningKey: the private key.
func (k signingKey) Key() any { return k.priv }

// ID implements op.SigningKey.
func (k signingKey) ID() string { return k.storedKey.ID }

// publicKey is a key as the key set publishes it.
type publicKey struct{ signingKey }

// Algorithm implements op.Key.
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.Alg }

// Use implements op.Key.
func (k publicKey) Use() string { return "sig" }

// Key implements op.Key: only the public half is ever published.
func (k publicKey) Key() any { return k.priv.Public() }

var (
	_ op.SigningKey = signingKey{}
	_ op.Key        = publicKey{}
)

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
