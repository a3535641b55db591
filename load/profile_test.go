package load

import (
	"context"
	"testing"
)

// What two syncs learn adds up: the largest export seen only grows, and a
// fact left unknown by one does not erase what the other stored.
func TestSaveProfileMerges(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	if p, err := TenantProfile(ctx, pool, "acme"); err != nil || !p.UpdatedAt.IsZero() || p.Tenant != "acme" {
		t.Fatalf("profile of a new tenant = %+v, %v; want a zero one", p, err)
	}
	yes := true
	steps := []Profile{
		{Tenant: "acme", MaxRows: 500, CapRows: 5000, HonoursPageSize: &yes, EventTypes: "array"},
		{Tenant: "acme", MaxRows: 20, OneJob: true, FolderColumn: "folderId"},
	}
	for _, s := range steps {
		if err := SaveProfile(ctx, pool, s); err != nil {
			t.Fatal(err)
		}
	}
	p, err := TenantProfile(ctx, pool, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxRows != 500 || p.CapRows != 5000 || p.HonoursPageSize == nil || !*p.HonoursPageSize || p.EventTypes != "array" || p.FolderColumn != "folderId" || !p.OneJob {
		t.Fatalf("merged profile = %+v", p)
	}
	all, err := Profiles(ctx, pool)
	if err != nil || len(all) != 1 || all[0].Tenant != "acme" {
		t.Fatalf("Profiles = %+v, %v", all, err)
	}
}
