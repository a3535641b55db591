package transform

import (
	"strings"
	"testing"

	"sparkevents/internal/pseudo"
)

// With an HMAC key, user names and IP addresses are stored as keyed
// pseudonyms, in events and rejects alike; the event IDs stay those of
// the rows as written.
func TestReadHMACKeyPseudonymizesUsersAndAddresses(t *testing.T) {
	key := []byte("0123456789abcdef")
	path := writeBook(t, false, testSheet{"Events", [][]any{
		{"Timestamp", "Event Type", "User Name", "IP Address"},
		{"2026-01-02 03:04:05", "SparkLogin", "Ana@Example.com", "10.1.2.3"},
		{"2026-01-02 03:04:06", "SparkLogin", "ana@example.com", ""},
		{"not a time", "SparkLogin", "Ana@Example.com", "10.1.2.3"},
	}})
	plain := mustRead(t, path, Options{Tenant: "acme"})
	got := mustRead(t, path, Options{Tenant: "acme", HMACKey: key})
	if len(got.events) != 2 || len(got.rejects) != 1 {
		t.Fatalf("%d events, %d rejects", len(got.events), len(got.rejects))
	}
	ana := pseudo.Of(key, "ana@example.com")
	for i, e := range got.events {
		if e.UserName != ana {
			t.Errorf("event %d: user %q, want %q: one pseudonym for both spellings", i, e.UserName, ana)
		}
		if e.EventID != plain.events[i].EventID {
			t.Errorf("event %d: ID %q, want %q as without a key", i, e.EventID, plain.events[i].EventID)
		}
	}
	if ip := got.events[0].IPAddress; ip != pseudo.Of(key, "10.1.2.3") {
		t.Errorf("IP address %q, want its pseudonym", ip)
	}
	if got.events[1].IPAddress != "" {
		t.Errorf("an empty IP address became %q", got.events[1].IPAddress)
	}
	raw := strings.ToLower(string(got.rejects[0].Raw))
	if strings.Contains(raw, "ana@") || strings.Contains(raw, "10.1.2.3") || !strings.Contains(raw, ana) {
		t.Errorf("reject's raw row %s keeps the address or lacks its pseudonym", raw)
	}
}
