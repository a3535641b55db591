package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Profile is what syncs have learned about a tenant's Spark.
type Profile struct {
	Tenant string
	// HonoursPageSize says whether an export stops at the page size asked
	// for; nil until an export has shown it.
	HonoursPageSize *bool
	// CapRows is the row count at which an export was proven cut short: a
	// hidden cap. 0 until one is found.
	CapRows int
	// MaxRows is the most rows one export has returned; Spark's cap, if
	// any, is at least this.
	MaxRows int
	// EventTypes is how Spark wants the event_types filter: "array",
	// "string", or "" when not yet learned.
	EventTypes string
	// FolderColumn is the search column of the folder filter: "folder_id",
	// "folderId", or "" when not yet learned.
	FolderColumn string
	// OneJob says Spark runs one export job at a time for the tenant.
	OneJob    bool
	UpdatedAt time.Time // zero for a tenant with no profile yet
	// ProvenAt is when a probe last measured MaxRows and CapRows; zero if
	// never.
	ProvenAt time.Time
	// Proven, when saving, says that a probe measured MaxRows and CapRows
	// anew at ProvenAt: they replace the stored ones instead of adding to
	// them.
	Proven bool
}

const profileColumns = `tenant, honours_page_size, coalesce(cap_rows, 0), max_rows,
	coalesce(event_types_form, ''), coalesce(folder_column, ''), one_job, updated_at, coalesce(proven_at, '-infinity')`

func scanProfile(row pgx.Row) (Profile, error) {
	var (
		p      Profile
		proven pgtype.Timestamptz
	)
	err := row.Scan(&p.Tenant, &p.HonoursPageSize, &p.CapRows, &p.MaxRows, &p.EventTypes, &p.FolderColumn, &p.OneJob, &p.UpdatedAt, &proven)
	if proven.Valid && proven.InfinityModifier == pgtype.Finite {
		p.ProvenAt = proven.Time
	}
	return p, err
}

// TenantProfile returns what is known of tenant's Spark; a tenant never
// synced, or a schema not yet migrated (as a dry run may find it), has a
// zero Profile.
func TenantProfile(ctx context.Context, q Querier, tenant string) (Profile, error) {
	p, err := scanProfile(q.QueryRow(ctx, `SELECT `+profileColumns+` FROM spark_profiles WHERE tenant = $1`, tenant))
	var pgErr *pgconn.PgError
	if errors.Is(err, pgx.ErrNoRows) || (errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "42703")) {
		return Profile{Tenant: tenant}, nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("spark profile of tenant %s: %w", tenant, err)
	}
	return p, nil
}

// Profiles returns every tenant's profile, ordered by tenant.
func Profiles(ctx context.Context, q Querier) ([]Profile, error) {
	rows, err := q.Query(ctx, `SELECT `+profileColumns+` FROM spark_profiles ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("spark profiles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Profile, error) { return scanProfile(row) })
	if err != nil {
		return nil, fmt.Errorf("spark profiles: %w", err)
	}
	return out, nil
}

// SaveProfile stores p as tenant's profile. MaxRows only grows: two syncs
// that learn concurrently keep the larger; a zero CapRows, a nil
// HonoursPageSize or an empty EventTypes or FolderColumn keeps what was
// stored. With p.Proven, MaxRows and CapRows replace the stored ones, and
// p.ProvenAt is stored with them.
func SaveProfile(ctx context.Context, q Querier, p Profile) error {
	_, err := q.Exec(ctx, `INSERT INTO spark_profiles AS s
			(tenant, honours_page_size, cap_rows, max_rows, event_types_form, folder_column, one_job, proven_at)
		VALUES ($1, $2, nullif($3, 0), $4, nullif($5, ''), nullif($6, ''), $7, CASE WHEN $8::boolean THEN $9::timestamptz END)
		ON CONFLICT (tenant) DO UPDATE SET
			honours_page_size = coalesce(excluded.honours_page_size, s.honours_page_size),
			cap_rows = CASE WHEN $8::boolean THEN excluded.cap_rows ELSE coalesce(excluded.cap_rows, s.cap_rows) END,
			max_rows = CASE WHEN $8::boolean THEN excluded.max_rows ELSE greatest(excluded.max_rows, s.max_rows) END,
			proven_at = coalesce(excluded.proven_at, s.proven_at),
			event_types_form = coalesce(excluded.event_types_form, s.event_types_form),
			folder_column = coalesce(excluded.folder_column, s.folder_column),
			one_job = excluded.one_job OR s.one_job,
			updated_at = now()`,
		p.Tenant, p.HonoursPageSize, p.CapRows, p.MaxRows, p.EventTypes, p.FolderColumn, p.OneJob, p.Proven, p.ProvenAt)
	if err != nil {
		return fmt.Errorf("save spark profile of tenant %s: %w", p.Tenant, err)
	}
	return nil
}
