package openid

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// storedSecret returns the n random bytes kept at key in st, made there
// the first time (login.LoadOrCreate).
func storedSecret(ctx context.Context, st login.Storage, key string, n int) ([]byte, error) {
	b, err := login.LoadOrCreate(ctx, st, key, func() ([]byte, error) {
		b := make([]byte, n)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%s in storage holds %d bytes, not %d: delete it to have a new one made (the tokens it protects end)", key, len(b), n)
	}
	return b, nil
}
