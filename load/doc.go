// Package load writes events to PostgreSQL: schema migrations, idempotent
// upserts, run and reject bookkeeping, watermarks and tenant locks.
package load
