package eventstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Credentials name the file a NATS client authenticates with: an nkey seed
// file (nats's --nkey) or a JWT creds file (--creds), at most one.
type Credentials struct {
	NKeyFile  string
	CredsFile string
}

// Options are the connection options that present the credentials; none
// when no file is named.
func (c Credentials) Options() ([]nats.Option, error) {
	switch {
	case c.NKeyFile != "" && c.CredsFile != "":
		return nil, errors.New("give an nkey seed file or a creds file, not both")
	case c.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file %s: %w", c.NKeyFile, err)
		}
		return []nats.Option{opt}, nil
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("creds file: %w", err)
		}
		return []nats.Option{nats.UserCredentials(c.CredsFile)}, nil
	}
	return nil, nil
}

// SeedFile is where RoleKeys keeps the seed of role in dir.
func SeedFile(dir string, role Role) string { return filepath.Join(dir, string(role)+".nk") }

// RoleKeys returns the public key of each of roles, whose seeds are kept in
// dir (SeedFile, mode 0600); missing ones are created, existing ones kept,
// so that clients keep their credentials across restarts.
func RoleKeys(dir string, roles []Role) (map[Role]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keys := map[Role]string{}
	for _, r := range roles {
		public, err := userSeed(SeedFile(dir, r))
		if err != nil {
			return nil, fmt.Errorf("nats credentials of role %s: %w", r, err)
		}
		keys[r] = public
	}
	return keys, nil
}

// userSeed returns the public key of the user seed in path, creating the
// seed first when the file does not exist.
func userSeed(path string) (string, error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return newUserSeed(path)
	}
	if err != nil {
		return "", err
	}
	kp, err := nkeys.ParseDecoratedUserNKey(seed)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

func newUserSeed(path string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	// O_EXCL: never overwrite a seed another process wrote meanwhile.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// ServiceOptions are the connection options of the service's role: its
// credentials, and its replies under ServiceInboxPrefix, where its
// permissions let it subscribe.
func ServiceOptions(c Credentials) ([]nats.Option, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	return append(opts, nats.CustomInboxPrefix(ServiceInboxPrefix)), nil
}
