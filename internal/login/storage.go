package login

import "context"

// Storage is where what must survive a restart, and reach every server
// that shares it, is kept: the generated session key and the revocation
// list. Caddy's storage (certmagic.Storage) is one; a missing key is an
// error that wraps fs.ErrNotExist.
type Storage interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, path string, recursive bool) ([]string, error)
	// Lock and Unlock serialise the servers sharing the storage, for the
	// generation of the one session key.
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}
