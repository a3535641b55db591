package load

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connHint tells the user where the connection string comes from; errors
// never repeat the string itself, which may hold a password.
const connHint = "set DATABASE_URL or --database-url, or the PG* environment variables"

// Querier is what the read-only helpers need: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Connect opens a connection pool whose sessions resolve unqualified table
// names in schema first (search_path = schema, public) and identify
// themselves as application_name=sparkevents. An empty connString means the
// libpq defaults and PG* environment variables. Connect pings the server so
// a wrong address fails here rather than in the first query.
func Connect(ctx context.Context, connString, schema string) (*pgxpool.Pool, error) {
	if schema == "" {
		return nil, errors.New("connect to PostgreSQL: empty schema name")
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgconn.ParseConfigError redacts passwords from the string it quotes.
		return nil, fmt.Errorf("parse PostgreSQL connection string (%s): %w", connHint, err)
	}
	// Startup parameters, not a SET after connecting: they cost no round trip
	// and survive the pool's session resets.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize() + ", public"
	cfg.ConnConfig.RuntimeParams["application_name"] = "sparkevents"

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (%s): %w", connHint, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL (%s): %w", connHint, err)
	}
	return pool, nil
}
