package pseudo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	k1, k2 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	a := Of(k1, "ana@example.com")
	if a != Of(k1, "ana@example.com") || !strings.HasPrefix(a, Prefix) || len(a) != len(Prefix)+32 {
		t.Fatalf("Of = %q: want a stable %s and 32 hex digits", a, Prefix)
	}
	if a == Of(k2, "ana@example.com") || a == Of(k1, "bo@example.com") {
		t.Fatal("another key or value gave the same pseudonym")
	}
	if Of(k1, "") != "" || Of(k1, a) != a {
		t.Fatal("an empty value or a pseudonym was hashed")
	}
}

func TestReadKey(t *testing.T) {
	dir := t.TempDir()
	short, good := filepath.Join(dir, "short"), filepath.Join(dir, "good")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600)
	if _, err := ReadKey(short); err == nil {
		t.Fatal("a 3-byte key was taken")
	}
	if _, err := ReadKey(filepath.Join(dir, "none")); err == nil {
		t.Fatal("a missing file was taken")
	}
	k, err := ReadKey(good)
	if err != nil || string(k) != "0123456789abcdef0123" {
		t.Fatalf("ReadKey = %q, %v", k, err)
	}
}
