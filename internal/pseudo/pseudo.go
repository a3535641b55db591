// Package pseudo turns a person's name or address into a keyed pseudonym:
// HMAC-SHA256 under a key that the operator keeps in a file (the
// SPARKEVENTS_HMAC_KEY_FILE secret), never in the database. The same value
// under the same key always gives the same pseudonym, so analysts still
// count distinct users and join a user's events; without the key nobody
// can tell which address a pseudonym stands for, nor test a guess.
package pseudo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Prefix starts every pseudonym, so that one is never taken for a name.
const Prefix = "hmac:"

// MinKeyBytes is the shortest key ReadKey takes.
const MinKeyBytes = 16

// ErrKey reports a key file that cannot be used.
var ErrKey = errors.New("hmac key")

// ReadKey reads a key file: its bytes, less a trailing newline. Make one
// with: head -c 32 /dev/urandom | base64 > hmac.key
func ReadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k := []byte(strings.TrimRight(string(b), "\r\n"))
	if len(k) < MinKeyBytes {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want at least %d (head -c 32 /dev/urandom | base64 > %s)", ErrKey, path, len(k), MinKeyBytes, path)
	}
	return k, nil
}

// Of is the pseudonym of s under key: Prefix and 32 hex digits (128 bits
// of HMAC-SHA256). An empty s stays empty, and so does a pseudonym: a
// value loaded twice is not hashed twice.
func Of(key []byte, s string) string {
	if s == "" || strings.HasPrefix(s, Prefix) {
		return s
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return Prefix + hex.EncodeToString(m.Sum(nil)[:16])
}
