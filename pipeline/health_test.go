package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"sparkevents/load"
)

func TestCheckLag(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { w := now.Add(-ago); return &w }
	failed := &load.RunInfo{ID: 41, Kind: "sync", Tenant: "acme", Status: "failed", StartedAt: now.Add(-10 * time.Minute)}
	ok := &load.RunInfo{ID: 42, Kind: "sync", Tenant: "beta", Status: "succeeded", StartedAt: now.Add(-5 * time.Minute)}
	sts := []load.TenantStatus{
		{Tenant: "acme", Watermark: at(3 * time.Hour), LastSync: failed},
		{Tenant: "beta", Watermark: at(20 * time.Minute), LastSync: ok},
		{Tenant: "imported"}, // events from imports only: no watermark
	}
	neverSynced := append(sts[:3:3], load.TenantStatus{Tenant: "newco", LastSync: &load.RunInfo{ID: 7, Kind: "sync", Tenant: "newco", Status: "failed", StartedAt: now.Add(-time.Minute)}})
	tests := []struct {
		name   string
		sts    []load.TenantStatus
		tenant string
		maxLag time.Duration
		say    []string // nil: healthy
	}{
		{"every synced tenant within the lag", sts, "", 4 * time.Hour, nil},
		{"one tenant behind", sts, "", time.Hour, []string{"tenant acme: events stored up to 2026-11-29T09:00:00Z, 3h0m0s ago, more than 1h0m0s", "run 41", "failed", "sparkevents runs --tenant acme"}},
		{"both behind", sts, "", 10 * time.Minute, []string{"tenant acme:", "tenant beta: events stored up to 2026-11-29T11:40:00Z, 20m0s ago", "run 42, succeeded"}},
		{"lag equal to the limit is healthy", sts, "beta", 20 * time.Minute, nil},
		{"a named tenant within the lag", sts, "beta", time.Hour, nil},
		{"a named tenant behind, the other ignored", sts, "acme", time.Hour, []string{"tenant acme:"}},
		{"a named tenant without a watermark", sts, "imported", time.Hour, []string{"tenant imported has no watermark yet: no sync has run"}},
		{"a named tenant unknown", sts, "gamma", time.Hour, []string{"tenant gamma has no watermark: it has never been synced"}},
		{"no tenant synced", []load.TenantStatus{{Tenant: "imported"}}, "", time.Hour, []string{"no tenant has been synced yet"}},
		{"a tenant whose every sync failed", neverSynced, "", 4 * time.Hour, []string{"tenant newco has no watermark yet: its last sync, run 7 at 2026-11-29T11:59:00Z, failed"}},
		{"a tenant whose first sync is running", []load.TenantStatus{{Tenant: "newco", LastSync: &load.RunInfo{ID: 8, Status: "running", StartedAt: now}}}, "", time.Hour, nil},
		{"a named tenant whose first sync is running", []load.TenantStatus{{Tenant: "newco", LastSync: &load.RunInfo{ID: 8, Status: "running", StartedAt: now}}}, "newco", time.Hour, nil},
		{"an empty schema", nil, "", time.Hour, []string{"no tenant has been synced yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLag(tt.sts, tt.tenant, tt.maxLag, now)
			if tt.say == nil {
				if err != nil {
					t.Fatalf("CheckLag = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrStale) {
				t.Fatalf("CheckLag = %v, want ErrStale", err)
			}
			for _, s := range tt.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("CheckLag = %q, want it to say %q", err, s)
				}
			}
			if tt.tenant == "acme" && strings.Contains(err.Error(), "beta") {
				t.Errorf("CheckLag for acme names beta: %q", err)
			}
		})
	}
}
