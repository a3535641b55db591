package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Forget says whose data ForgetUser erases or pseudonymizes.
type Forget struct {
	// Tenant limits it to one tenant; "" is every tenant.
	Tenant string
	// Address is the person's e-mail address (or user name) as given.
	Address string
	// Names are the user_name values that stand for the person beside the
	// address itself: its pseudonym under the load's HMAC key, when loads
	// store pseudonyms.
	Names []string
	// Pseudonym, when set, replaces the person's name and address
	// everywhere instead of erasing their data; IPs maps each of their IP
	// addresses to its pseudonym.
	Pseudonym string
	IPs       func(string) string
	// Reference is recorded in the audit row's source (a ticket number):
	// never the address.
	Reference string
	// Apply erases; without it, ForgetUser only counts.
	Apply bool
}

// Forgotten counts what ForgetUser did, or would do, in each tenant.
type Forgotten struct {
	Tenant string
	// Events: the person's events deleted (or, pseudonymized, renamed).
	Events int64
	// Mentions: events whose description, folder or attributes named the
	// address, which is replaced there.
	Mentions int64
	// RollupRows: the person's rollup rows the triggers could not reach
	// (of days pruned with the rollups kept), deleted or renamed.
	RollupRows int64
	// Rejects: rejected rows that held the address, deleted (or with the
	// address replaced).
	Rejects int64
	// Runs: runs whose source or error named the address, now replaced.
	Runs  int64
	RunID int64 // the audit row; 0 for a dry run
}

func (f Forgotten) any() bool {
	return f.Events+f.Mentions+f.RollupRows+f.Rejects+f.Runs > 0
}

// erased stands for the address where it is erased from text.
const erased = "[erased]"

// userRollups are the rollups keyed by user, with the columns of their
// key besides tenant and user_name, and how two rows of one key add up.
var userRollups = []struct {
	table, key, sum string
}{
	{"rollup_daily_users", "day", "events = r.events + excluded.events, logins = r.logins + excluded.logins, first_seen = least(r.first_seen, excluded.first_seen), last_seen = greatest(r.last_seen, excluded.last_seen), last_login = greatest(r.last_login, excluded.last_login)"},
	{"rollup_users", "", "events = r.events + excluded.events, first_seen = least(r.first_seen, excluded.first_seen), last_seen = greatest(r.last_seen, excluded.last_seen)"},
	{"rollup_daily_services", "day, service_name, folder_name", "publishes = r.publishes + excluded.publishes, updates = r.updates + excluded.updates, last_published = greatest(r.last_published, excluded.last_published)"},
	{"rollup_service_users", "service_name, folder_name", "publishes = r.publishes + excluded.publishes, updates = r.updates + excluded.updates, last_published = greatest(r.last_published, excluded.last_published)"},
	{"rollup_hourly_logins", "day, hour", "logins = r.logins + excluded.logins"},
	{"rollup_login_hours", "weekday, hour", "logins = r.logins + excluded.logins"},
}

// userRollupAgg is how a rollup's rows of several names of one person
// merge into one row per key.
var userRollupAgg = map[string]string{
	"rollup_daily_users":    "events, logins, first_seen, last_seen, last_login|sum(events), sum(logins), min(first_seen), max(last_seen), max(last_login)",
	"rollup_users":          "events, first_seen, last_seen|sum(events), min(first_seen), max(last_seen)",
	"rollup_daily_services": "publishes, updates, last_published|sum(publishes), sum(updates), max(last_published)",
	"rollup_service_users":  "publishes, updates, last_published|sum(publishes), sum(updates), max(last_published)",
	"rollup_hourly_logins":  "logins|sum(logins)",
	"rollup_login_hours":    "logins|sum(logins)",
}

// mapRollups are the rollups whose user_counts map is keyed by user name.
var mapRollups = []string{"rollup_daily_events", "rollup_daily_folders"}

// forgetUserCountsSQL takes names $2 out of the maps of users' counts of
// tenants $1 in the table %s, or moves their counts to pseudonym $3 unless
// it is empty.
const forgetUserCountsSQL = `WITH d AS (UPDATE %s
		SET user_counts = (user_counts - $2::text[]) || CASE WHEN $3 = '' THEN '{}' ELSE jsonb_build_object($3::text,
			(SELECT sum(value::bigint) FROM jsonb_each_text(user_counts) WHERE key = ANY($2) OR key = $3)) END
		WHERE tenant = ANY($1) AND user_counts ?| $2 RETURNING tenant)
	SELECT tenant, count(*) FROM d GROUP BY 1`

// forgetFolderNames replaces pattern $2 by $3 in the folder names of the
// rollups of tenants $1, for each table a statement that adds every
// renamed row to the row of its new name (merging the rows that now share
// it) and one that deletes the old: a new name no longer matches $2.
var forgetFolderNames = []struct{ table, move string }{
	{"rollup_daily_folders", `INSERT INTO rollup_daily_folders AS r (tenant, day, folder_id, folder_name, events, publishes, deletions,
			permission_changes, last_event, user_counts, service_counts)
		SELECT tenant, day, folder_id, regexp_replace(folder_name, $2, $3, 'gi'), sum(events), sum(publishes), sum(deletions),
			sum(permission_changes), max(last_event), spark_events_rollup_sum(user_counts), spark_events_rollup_sum(service_counts)
		FROM rollup_daily_folders WHERE tenant = ANY($1) AND folder_name ~* $2
		GROUP BY 1, 2, 3, 4
		ON CONFLICT (tenant, day, folder_id, folder_name) DO UPDATE SET
			events = r.events + excluded.events, publishes = r.publishes + excluded.publishes,
			deletions = r.deletions + excluded.deletions, permission_changes = r.permission_changes + excluded.permission_changes,
			last_event = greatest(r.last_event, excluded.last_event),
			user_counts = spark_events_rollup_add(r.user_counts, excluded.user_counts),
			service_counts = spark_events_rollup_add(r.service_counts, excluded.service_counts)`},
	{"rollup_daily_services", `INSERT INTO rollup_daily_services AS r (tenant, day, service_name, folder_name, user_name, publishes, updates, last_published)
		SELECT tenant, day, service_name, regexp_replace(folder_name, $2, $3, 'gi'), user_name, sum(publishes), sum(updates), max(last_published)
		FROM rollup_daily_services WHERE tenant = ANY($1) AND folder_name ~* $2
		GROUP BY 1, 2, 3, 4, 5
		ON CONFLICT (tenant, day, service_name, folder_name, user_name) DO UPDATE SET
			publishes = r.publishes + excluded.publishes, updates = r.updates + excluded.updates,
			last_published = greatest(r.last_published, excluded.last_published)`},
	{"rollup_service_users", `INSERT INTO rollup_service_users AS r (tenant, service_name, folder_name, user_name, publishes, updates, last_published)
		SELECT tenant, service_name, regexp_replace(folder_name, $2, $3, 'gi'), user_name, sum(publishes), sum(updates), max(last_published)
		FROM rollup_service_users WHERE tenant = ANY($1) AND folder_name ~* $2
		GROUP BY 1, 2, 3, 4
		ON CONFLICT (tenant, service_name, folder_name, user_name) DO UPDATE SET
			publishes = r.publishes + excluded.publishes, updates = r.updates + excluded.updates,
			last_published = greatest(r.last_published, excluded.last_published)`},
}

// ForgetUser erases one person's data, in one transaction: their events
// (the rollup triggers subtract them), the rows of the rollups that keep
// their name past their events (days pruned under KeepRollups), the
// rejected rows that hold their address, and the address wherever other
// events' descriptions, folders and attributes or runs' sources and errors
// name it. With f.Pseudonym the person's data stay, under the pseudonym.
// It holds the events lock of every tenant it touches (in name order), so
// no load of them runs meanwhile. Each tenant where something was found
// (and f.Tenant, always) gets an audit row in etl_runs, kind 'forget',
// with counts and f.Reference, never the address. Without f.Apply
// everything is rolled back: a count of what it would do.
func ForgetUser(ctx context.Context, pool *pgxpool.Pool, schema string, f Forget) ([]Forgotten, error) {
	addr := strings.ToLower(strings.TrimSpace(f.Address))
	if addr == "" {
		return nil, errors.New("forget: no address")
	}
	names := []string{addr}
	if a := strings.TrimSpace(f.Address); a != addr {
		names = append(names, a)
	}
	for _, n := range f.Names {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	// What is searched for in text: the address and the other names,
	// never the pseudonym that replaces them.
	var needles []string
	for _, n := range names {
		if n != f.Pseudonym {
			needles = append(needles, strings.ToLower(n))
		}
	}
	var renamed []string
	for _, n := range names {
		if n != f.Pseudonym {
			renamed = append(renamed, n)
		}
	}
	pattern := make([]string, len(needles))
	for i, n := range needles {
		pattern[i] = regexp.QuoteMeta(n)
	}
	pat := strings.Join(pattern, "|")
	repl := erased
	if f.Pseudonym != "" {
		repl = f.Pseudonym
	}

	var out []Forgotten
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tenants := []string{f.Tenant}
		if f.Tenant == "" {
			rows, err := tx.Query(ctx, `SELECT tenant FROM etl_runs UNION SELECT tenant FROM etl_watermarks
				UNION SELECT tenant FROM rollup_daily_events UNION SELECT tenant FROM rollup_users WHERE user_name = ANY($1)
				ORDER BY 1`, names)
			if err != nil {
				return err
			}
			if tenants, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
		}
		for _, t := range tenants {
			if err := LockEvents(ctx, tx, schema, t, nil); err != nil {
				return err
			}
		}
		by := map[string]*Forgotten{}
		for _, t := range tenants {
			by[t] = &Forgotten{Tenant: t}
		}
		add := func(field func(*Forgotten) *int64, sql string, args ...any) error {
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			var (
				t string
				n int64
			)
			_, err = pgx.ForEachRow(rows, []any{&t, &n}, func() error {
				if by[t] == nil {
					by[t] = &Forgotten{Tenant: t}
				}
				*field(by[t]) += n
				return nil
			})
			return err
		}
		events := func(g *Forgotten) *int64 { return &g.Events }
		mentions := func(g *Forgotten) *int64 { return &g.Mentions }
		rollupRows := func(g *Forgotten) *int64 { return &g.RollupRows }
		rejects := func(g *Forgotten) *int64 { return &g.Rejects }
		runs := func(g *Forgotten) *int64 { return &g.Runs }

		// The person's events: the triggers take them out of the rollups
		// (or move them to the pseudonym).
		if f.Pseudonym == "" {
			if err := add(events, `WITH d AS (DELETE FROM spark_events WHERE tenant = ANY($1) AND user_name = ANY($2) RETURNING tenant)
				SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, renamed); err != nil {
				return err
			}
		} else {
			rows, err := tx.Query(ctx, `SELECT DISTINCT ip_address FROM spark_events WHERE tenant = ANY($1) AND user_name = ANY($2) AND ip_address IS NOT NULL`, tenants, renamed)
			if err != nil {
				return err
			}
			ips, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			pips := make([]string, len(ips))
			for i, ip := range ips {
				pips[i] = ""
				if f.IPs != nil {
					pips[i] = f.IPs(ip)
				}
			}
			if err := add(events, `WITH d AS (UPDATE spark_events SET user_name = $3,
					ip_address = (SELECT nullif(m.n, '') FROM unnest($4::text[], $5::text[]) m(o, n) WHERE m.o = ip_address)
				WHERE tenant = ANY($1) AND user_name = ANY($2) RETURNING tenant)
				SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, renamed, f.Pseudonym, ips, pips); err != nil {
				return err
			}
		}

		// Rows the triggers could not reach: of days whose events a prune
		// deleted under KeepRollups. Their days' maps of users name the
		// person too.
		for _, table := range mapRollups {
			if err := add(rollupRows, fmt.Sprintf(forgetUserCountsSQL, pgx.Identifier{table}.Sanitize()), tenants, renamed, f.Pseudonym); err != nil {
				return fmt.Errorf("forget in the user counts of %s: %w", table, err)
			}
		}
		for _, r := range userRollups {
			table := pgx.Identifier{r.table}.Sanitize()
			if f.Pseudonym != "" {
				cols := strings.SplitN(userRollupAgg[r.table], "|", 2)
				key := "tenant"
				if r.key != "" {
					key += ", " + r.key
				}
				q := fmt.Sprintf(`INSERT INTO %[1]s AS r (%[2]s, user_name, %[3]s)
					SELECT %[2]s, $3, %[4]s FROM %[1]s WHERE tenant = ANY($1) AND user_name = ANY($2) GROUP BY %[2]s
					ON CONFLICT (%[2]s, user_name) DO UPDATE SET %[5]s`, table, key, cols[0], cols[1], r.sum)
				if _, err := tx.Exec(ctx, q, tenants, renamed, f.Pseudonym); err != nil {
					return fmt.Errorf("rename in %s: %w", r.table, err)
				}
			}
			if err := add(rollupRows, `WITH d AS (DELETE FROM `+table+` WHERE tenant = ANY($1) AND user_name = ANY($2) RETURNING tenant)
				SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, renamed); err != nil {
				return fmt.Errorf("delete from %s: %w", r.table, err)
			}
		}

		// The address in other events' text, and (pseudonymized) in the
		// person's own. A folder renamed moves its rollup counts.
		if err := add(mentions, `WITH d AS (UPDATE spark_events SET
				description = regexp_replace(description, $2, $3, 'gi'),
				folder_name = regexp_replace(folder_name, $2, $3, 'gi'),
				attributes = regexp_replace(attributes::text, $2, $3, 'gi')::jsonb
			WHERE tenant = ANY($1) AND EXISTS (SELECT 1 FROM unnest($4::text[]) n
				WHERE strpos(lower(description), n) > 0 OR strpos(lower(folder_name), n) > 0 OR strpos(lower(attributes::text), n) > 0)
			RETURNING tenant)
			SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, pat, repl, needles); err != nil {
			return fmt.Errorf("replace the address in events: %w", err)
		}

		// Folders named after the person in the rollups of pruned days
		// (the triggers renamed the others with their events).
		for _, m := range forgetFolderNames {
			if _, err := tx.Exec(ctx, m.move, tenants, pat, repl); err != nil {
				return fmt.Errorf("replace the address in the folders of %s: %w", m.table, err)
			}
			if err := add(rollupRows, `WITH d AS (DELETE FROM `+pgx.Identifier{m.table}.Sanitize()+` WHERE tenant = ANY($1) AND folder_name ~* $2 RETURNING tenant)
				SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, pat); err != nil {
				return fmt.Errorf("replace the address in the folders of %s: %w", m.table, err)
			}
		}

		// Rejected rows hold the row as read, address and all.
		const rejectHolds = `r.tenant = ANY($1) AND EXISTS (SELECT 1 FROM unnest($2::text[]) n
			WHERE strpos(lower(j.raw::text), n) > 0 OR strpos(lower(j.reason), n) > 0)`
		if f.Pseudonym == "" {
			err := add(rejects, `WITH d AS (DELETE FROM etl_rejects j USING etl_runs r WHERE j.run_id = r.run_id AND `+rejectHolds+` RETURNING r.tenant)
				SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, needles)
			if err != nil {
				return fmt.Errorf("delete rejects: %w", err)
			}
		} else {
			err := add(rejects, `WITH d AS (UPDATE etl_rejects j SET raw = regexp_replace(j.raw::text, $3, $4, 'gi')::jsonb,
					reason = regexp_replace(j.reason, $3, $4, 'gi')
				FROM etl_runs r WHERE j.run_id = r.run_id AND `+rejectHolds+` RETURNING r.tenant)
				SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, needles, pat, repl)
			if err != nil {
				return fmt.Errorf("replace the address in rejects: %w", err)
			}
		}

		// A backfill --user names the address in its run's error, say.
		if err := add(runs, `WITH d AS (UPDATE etl_runs SET source = regexp_replace(source, $2, $3, 'gi'), error = regexp_replace(error, $2, $3, 'gi')
			WHERE tenant = ANY($1) AND EXISTS (SELECT 1 FROM unnest($4::text[]) n WHERE strpos(lower(source), n) > 0 OR strpos(lower(error), n) > 0)
			RETURNING tenant)
			SELECT tenant, count(*) FROM d GROUP BY 1`, tenants, pat, repl, needles); err != nil {
			return fmt.Errorf("replace the address in runs: %w", err)
		}

		source := "forget"
		if f.Reference != "" {
			source += " " + f.Reference
		}
		for _, t := range slices.Sorted(mapKeys(by)) {
			g := by[t]
			if !g.any() && t != f.Tenant {
				continue
			}
			if f.Apply {
				details, err := json.Marshal(map[string]any{"events": g.Events, "mentions": g.Mentions, "rollup_rows": g.RollupRows,
					"rejects": g.Rejects, "runs": g.Runs, "pseudonymized": f.Pseudonym != ""})
				if err != nil {
					return err
				}
				deleted := g.RollupRows
				if f.Pseudonym == "" {
					deleted += g.Events + g.Rejects
				}
				if err := tx.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, finished_at, rows_deleted, details)
					VALUES ('forget', $1, $2, 'succeeded', clock_timestamp(), $3, $4) RETURNING run_id`, t, source, deleted, details).Scan(&g.RunID); err != nil {
					return err
				}
			}
			out = append(out, *g)
		}
		if !f.Apply {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("forget: %w", err)
	}
	return out, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
