package analyst

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GrantReader gives role read access to schema: USAGE on the schema, SELECT
// on its tables and views, and SELECT on the tables and views created in it
// later by the role running GrantReader (the one that runs the migrations).
// It grants nothing else: the role cannot write, create objects or call
// functions beyond what PUBLIC may. The role must exist; GrantReader does not
// create roles because choosing a password is the administrator's business.
func GrantReader(ctx context.Context, db *pgxpool.Pool, schema, role string) error {
	if role == "" {
		return fmt.Errorf("%w: grant read access: empty role name", ErrRequest)
	}
	var roleExists, schemaExists bool
	err := db.QueryRow(ctx,
		`SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1),
		        EXISTS (SELECT FROM pg_namespace WHERE nspname = $2)`,
		role, schema).Scan(&roleExists, &schemaExists)
	if err != nil {
		return fmt.Errorf("grant read access to %s: %w", role, err)
	}
	r := pgx.Identifier{role}.Sanitize()
	s := pgx.Identifier{schema}.Sanitize()
	if !roleExists {
		return fmt.Errorf("%w: grant read access: role %q does not exist; create it first, e.g. CREATE ROLE %s LOGIN PASSWORD '...'", ErrRequest, role, r)
	}
	if !schemaExists {
		return fmt.Errorf("grant read access to %s: schema %q does not exist; run the migrations first", role, schema)
	}
	// GRANT takes no bound parameters: the names are quoted identifiers.
	stmts := []string{
		"GRANT USAGE ON SCHEMA " + s + " TO " + r,
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + s + " TO " + r, // views are tables here
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT ON TABLES TO " + r,
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("grant read access to %s: %s: %w", role, q, err)
			}
		}
		return nil
	})
}
