package load

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"sparkevents/transform"
)

// keyColumns identify an event.
func keyColumns() []string { return []string{"tenant", "event_id"} }

// dataColumns are everything a load may change. The staging table has
// keyColumns, dataColumns and ordinal, in that order, matching
// chunk.Values.
func dataColumns() []string {
	return []string{
		"event_time", "event_type", "user_name", "folder_id", "folder_name",
		"service_name", "service_version", "description", "ip_address", "attributes",
	}
}

const (
	eventsTable  = "spark_events"
	stagingTable = "spark_events_stage"
)

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// ChunkRows is how many events Upsert holds, copied, and then stores in
// spark_events at once. The server's work on one chunk runs while the
// caller produces the next, so a parse and a load overlap. Smaller chunks
// hide more of the server's work behind the parse but pay the
// per-statement cost more often. The chunk, and the parser's buffer of
// as many events ahead of it, are most of an import's live heap, which
// sets what each collection costs and so how much memory the import can
// save without slowing down: with 16k-row chunks the import marked about
// 19 MB per collection, with 2k about 7 MB. bench/README.md has the
// measurements behind this value.
const ChunkRows = 2 << 10

// Upsert loads events into spark_events for run runID and reports what
// changed. It reads the events in chunks of ChunkRows; a chunk that may
// hold stored events is copied into a temporary staging table and merged
// with one INSERT ... ON CONFLICT. Before
// the merge, each staged event is looked up by key, so an event stored with
// the same data is left alone: re-loading the same events writes no tuple
// and takes no row lock. When a key occurs more than once, the last
// occurrence wins and the key counts once, with one exception: a key already
// stored unchanged is not written, so when it comes again in a later chunk
// it is not recognized and counts unchanged once per chunk it is in (and,
// if its occurrences differ, is rewritten on every load of the same events).
//
// A chunk none of whose keys is stored is stored instead in the order it
// came, for much less of the server's work (see mayBeStored for how that
// is proved: by the chunk's period for content-hashed IDs, by the
// tenant's key range or a lookup of each key for one tenant's chunk).
// Unless a key comes twice in it, such a chunk is copied straight into
// spark_events; otherwise it is staged and inserted with ON CONFLICT DO
// NOTHING (see insertSQL), and merged too only when that skips a row, as
// is a chunk of several tenants with workbook IDs whose period is empty.
// So a first import, a new tenant's, or a backfill of a period not loaded
// yet, keeps every index as it is and costs the server about what COPY
// into the table costs. The straight copy relies on no other transaction
// storing the same new events meanwhile: callers that may load a
// tenant's events at once must hold LockEvents. After an error, tx must be
// rolled back, not committed: it may hold some chunks.
//
// Counts.Rejected is left zero: rejects are the caller's to count.
func Upsert(ctx context.Context, tx pgx.Tx, runID int64, events iter.Seq2[*transform.Event, error]) (Counts, error) {
	return upsert(ctx, tx, runID, events, ChunkRows)
}

// upsert is Upsert with chunks of chunkRows events.
func upsert(ctx context.Context, tx pgx.Tx, runID int64, events iter.Seq2[*transform.Event, error], chunkRows int) (Counts, error) {
	staging := pgx.Identifier{"pg_temp", stagingTable}
	// ON COMMIT DROP cleans up after a failed load too; the DROP below lets
	// a second Upsert in the same transaction create it afresh.
	if _, err := tx.Exec(ctx, stagingDDL(staging.Sanitize())); err != nil {
		return Counts{}, fmt.Errorf("upsert events: create staging table: %w", err)
	}
	// Every row this call writes gets this loaded_at: a key met again in a
	// later chunk is recognized by it as one this call already counted.
	var stamp time.Time
	if err := tx.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&stamp); err != nil {
		return Counts{}, fmt.Errorf("upsert events: read clock: %w", err)
	}

	table := pgx.Identifier{eventsTable}
	insert := insertSQL(table.Sanitize(), staging.Sanitize())
	probes := probeSQL{
		period:   periodStoredSQL(table.Sanitize()),
		keyRange: keyRangeStoredSQL(table.Sanitize()),
		keys:     keysStoredSQL(table.Sanitize()),
	}
	merge := upsertSQL(table.Sanitize(), staging.Sanitize())
	truncate := "TRUNCATE " + staging.Sanitize()
	next, stop := iter.Pull2(events)
	defer stop()
	ch := newChunk(chunkRows, runID, stamp)
	var (
		c      Counts
		staged bool // the staging table holds an earlier chunk
	)
	for {
		n, err := ch.fill(next)
		if err != nil {
			return Counts{}, fmt.Errorf("upsert events: read event %d: %w", ch.read+1, err)
		}
		if n == 0 {
			break
		}
		c.Read += int64(n)
		stored, err := ch.mayBeStored(ctx, tx, probes)
		if err != nil {
			return Counts{}, err
		}
		if !stored && ch.keysNew && ch.distinct() {
			copied, err := tx.CopyFrom(ctx, table, insertColumns(), ch.rows(false))
			if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
				return Counts{}, fmt.Errorf("upsert events: copy into %s: an event of %s to %s was stored meanwhile by another load that did not hold the tenant lock (an older sparkevents, or another program); stop it or upgrade it, and load again: %w",
					eventsTable, ch.first.Format(time.RFC3339Nano), ch.last.Format(time.RFC3339Nano), err)
			}
			if err != nil {
				return Counts{}, fmt.Errorf("upsert events: copy into %s: %w", eventsTable, err)
			}
			if copied != int64(n) {
				return Counts{}, fmt.Errorf("upsert events: copied %d rows into %s, read %d events", copied, eventsTable, n)
			}
			c.Inserted += copied
			continue
		}
		if staged {
			if _, err := tx.Exec(ctx, truncate); err != nil {
				return Counts{}, fmt.Errorf("upsert events: empty staging table: %w", err)
			}
		}
		staged = true
		copied, err := tx.CopyFrom(ctx, staging, stagingColumns(), ch.rows(true))
		if err != nil {
			return Counts{}, fmt.Errorf("upsert events: copy to staging table: %w", err)
		}
		if copied != int64(n) {
			return Counts{}, fmt.Errorf("upsert events: copied %d rows to the staging table, read %d events", copied, n)
		}
		if !stored {
			// New keys but for some the chunk holds twice, or IDs from the
			// workbook, which may be stored already with another time.
			tag, err := tx.Exec(ctx, insert, runID, stamp)
			if err != nil {
				return Counts{}, fmt.Errorf("upsert events: insert into %s: %w", eventsTable, err)
			}
			c.Inserted += tag.RowsAffected()
			if tag.RowsAffected() == copied {
				continue
			}
		}
		// No ANALYZE of the staging table: the plan is fixed by the SQL
		// (see upsertSQL), and ANALYZE cost 0.2-0.3 s per 100k rows.
		var distinct, again, inserted, written, againWritten int64
		if err := tx.QueryRow(ctx, merge, runID, stamp).Scan(&distinct, &again, &inserted, &written, &againWritten); err != nil {
			return Counts{}, fmt.Errorf("upsert events: merge into %s: %w", eventsTable, err)
		}
		updated := written - inserted - againWritten
		c.Inserted += inserted
		c.Updated += updated
		c.Unchanged += distinct - again - inserted - updated
	}
	if err := dropStaging(ctx, tx, staging); err != nil {
		return Counts{}, err
	}
	return c, nil
}

func dropStaging(ctx context.Context, tx pgx.Tx, staging pgx.Identifier) error {
	if _, err := tx.Exec(ctx, "DROP TABLE "+staging.Sanitize()); err != nil {
		return fmt.Errorf("upsert events: drop staging table: %w", err)
	}
	return nil
}

func stagingColumns() []string {
	return append(append(keyColumns(), dataColumns()...), "ordinal")
}

// insertColumns are what a chunk of new events is copied into spark_events
// with.
func insertColumns() []string {
	return append(append(keyColumns(), dataColumns()...), "first_run_id", "last_run_id", "loaded_at")
}

// stagingDDL copies the event table's column types, so the merge compares
// like with like, and adds the ordinal that decides which duplicate wins.
func stagingDDL(staging string) string {
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE ")
	b.WriteString(staging)
	b.WriteString(" ON COMMIT DROP AS SELECT ")
	for _, c := range append(keyColumns(), dataColumns()...) {
		b.WriteString(pgx.Identifier{c}.Sanitize())
		b.WriteString(", ")
	}
	b.WriteString("0::bigint AS ordinal FROM ")
	b.WriteString(pgx.Identifier{eventsTable}.Sanitize())
	b.WriteString(" WITH NO DATA")
	return b.String()
}

// upsertSQL merges the staged chunk into table and returns one row: the
// number of distinct keys staged; how many of them this Upsert call already
// wrote from an earlier chunk ("again"); rows inserted; rows written
// (inserted or updated); and how many of the written were "again" rows. $1
// is the run ID, $2 the call's loaded_at stamp. table and staging must be
// sanitized identifiers.
//
// DISTINCT ON keeps the last occurrence of each key (highest ordinal), since
// ON CONFLICT cannot touch one row twice in a statement. Each key is then
// looked up in a LATERAL subquery with LIMIT 1, which the planner cannot
// turn into a join: it stays a nested loop of primary-key probes, as cheap
// for a chunk of a big table as of a small one, where a hash join would scan
// the whole table for every chunk. Only keys that are new or whose data
// differs go to the INSERT, so unchanged rows are neither written nor
// locked. Its ON CONFLICT still guards against a row that another
// transaction inserted or changed after the lookup, and its WHERE keeps
// such a row when it holds the same data. A freshly inserted row has
// xmax = 0; an updated one carries the updating transaction's ID.
func upsertSQL(table, staging string) string {
	q := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	list := func(prefix string, cols []string) string {
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = prefix + q(c)
		}
		return strings.Join(parts, ", ")
	}
	keyCols, dataCols := keyColumns(), dataColumns()
	keys, data := list("", keyCols), list("", dataCols)

	var set, match strings.Builder
	for _, c := range dataCols {
		fmt.Fprintf(&set, "%s = excluded.%s, ", q(c), q(c))
	}
	for i, c := range keyCols {
		if i > 0 {
			match.WriteString(" AND ")
		}
		fmt.Fprintf(&match, "t.%s = s.%s", q(c), q(c))
	}

	return `WITH src AS MATERIALIZED (
	SELECT DISTINCT ON (` + keys + `) ` + keys + `, ` + data + `
	FROM ` + staging + `
	ORDER BY ` + keys + `, ordinal DESC
), cmp AS MATERIALIZED (
	SELECT s.*, t.found IS NOT NULL AS found, coalesce(t.again, false) AS again,
		t.found IS NULL OR (` + list("t.", dataCols) + `) IS DISTINCT FROM (` + list("s.", dataCols) + `) AS write
	FROM src s LEFT JOIN LATERAL (
		SELECT true AS found, t.last_run_id = $1 AND t.loaded_at = $2 AS again, ` + list("t.", dataCols) + `
		FROM ` + table + ` t
		WHERE ` + match.String() + `
		LIMIT 1
	) t ON true
), merged AS (
	INSERT INTO ` + table + ` AS t (` + keys + `, ` + data + `, first_run_id, last_run_id, loaded_at)
	SELECT ` + keys + `, ` + data + `, $1, $1, $2 FROM cmp WHERE write
	ON CONFLICT (` + keys + `) DO UPDATE SET ` + set.String() + `last_run_id = excluded.last_run_id, loaded_at = excluded.loaded_at
	WHERE (` + list("t.", dataCols) + `) IS DISTINCT FROM (` + list("excluded.", dataCols) + `)
	RETURNING xmax = 0 AS inserted
)
SELECT (SELECT count(*) FROM cmp),
	(SELECT count(*) FROM cmp WHERE again),
	(SELECT count(*) FROM merged WHERE inserted),
	(SELECT count(*) FROM merged),
	(SELECT count(*) FROM cmp WHERE again AND write)`
}

// periodStoredSQL reports whether table holds an event whose time is in
// [$1, $2]. An event's key is Spark's event ID or a hash of its content,
// event time included, so a chunk that finds its period empty holds only
// new keys, but for an event whose ID Spark gave again with another time.
// The event_time index answers it at the cost of one index probe. The
// subquery selects a column: Citus refuses EXISTS of a zero-column
// subquery (SELECT FROM) of a distributed table.
func periodStoredSQL(table string) string {
	return "SELECT EXISTS (SELECT 1 FROM " + table + " WHERE event_time BETWEEN $1 AND $2)"
}

// keyRangeStoredSQL reports whether table holds an event of tenant $1
// whose ID is between $2 and $3 in byte order, the order Go compares
// strings in: one descent of the primary key, whose event_id is COLLATE
// "C" (migration 00005). An empty range proves
// that no key of a chunk whose IDs lie in it is stored. table must be a
// sanitized identifier.
func keyRangeStoredSQL(table string) string {
	return "SELECT EXISTS (SELECT FROM " + table + " WHERE tenant = $1 AND event_id >= ($2 COLLATE \"C\") AND event_id <= ($3 COLLATE \"C\"))"
}

// keysStoredSQL reports whether table holds an event of tenant $1 whose ID
// is in the array $2. As in upsertSQL, each ID is looked up in a LATERAL
// subquery with LIMIT 1, which stays a probe of the primary key whatever
// the planner estimates: with the IDs as a filter instead it chose, for a
// tenant it had no statistics of yet, to read every stored event of the
// tenant for each chunk. A chunk of new keys costs a probe per key (about
// 5 ms per 2,048), so this is asked only of a chunk whose period holds
// stored events; a chunk of stored events answers at its first key. table
// must be a sanitized identifier.
func keysStoredSQL(table string) string {
	return "SELECT EXISTS (SELECT FROM unnest($2::text[]) AS k (id),\n" +
		"\tLATERAL (SELECT FROM " + table + " t WHERE t.tenant = $1 AND t.event_id = k.id LIMIT 1) s)"
}

// insertSQL stores the staged chunk in table as new rows, in the order they
// came, skipping a row whose key is stored already or earlier in the chunk.
// It neither sorts the chunk nor compares its rows with stored ones, which
// the merge does for each: per million rows it cost about 23 s of server
// time with all five indexes (18-19 s since hash IDs lead with the event's
// time), where the merge cost 25.7 s with only two of them. On two cores
// that is what lets a first import keep every index and still hide most of
// the database work behind the parse (bench/README.md has the figures).
// $1 is the run ID, $2 the call's loaded_at stamp. table and staging must
// be sanitized identifiers.
func insertSQL(table, staging string) string {
	cols := strings.Join(append(keyColumns(), dataColumns()...), ", ")
	return "INSERT INTO " + table + " (" + strings.Join(insertColumns(), ", ") + ")\n" +
		"SELECT " + cols + ", $1, $1, $2 FROM " + staging + "\n" +
		"ON CONFLICT (" + strings.Join(keyColumns(), ", ") + ") DO NOTHING"
}

// probeSQL are the statements a chunk asks before it is stored.
type probeSQL struct{ period, keyRange, keys string }

// mayBeStored reports whether some of the chunk's keys may be stored
// already, and sets keysNew when it proved that none is: the chunk, if no
// key comes twice in it, can then be copied straight into spark_events.
//
// The proofs, cheapest first. A chunk of content-hashed IDs whose period
// holds no stored event holds no stored key (the hash includes the time).
// A chunk of one tenant whose IDs lie in a key range where the tenant has
// nothing stored (a new tenant, an empty table, a backfill of IDs that
// sort apart) holds none. Otherwise its keys are looked up one by one,
// which answers at the first stored key. A chunk of several tenants whose
// IDs come from the workbook is never proved new: it is staged, and
// inserted with ON CONFLICT DO NOTHING when its period is empty.
//
// The proofs read what is committed and what this transaction wrote; what
// another transaction writes meanwhile they cannot see, which is why a
// caller that may load a tenant's events at once must hold LockEvents.
func (c *chunk) mayBeStored(ctx context.Context, tx pgx.Tx, q probeSQL) (bool, error) {
	c.keysNew = false
	span := func() string {
		return c.first.Format(time.RFC3339Nano) + " to " + c.last.Format(time.RFC3339Nano)
	}
	if c.hashed || c.tenant == "" {
		var stored bool
		if err := tx.QueryRow(ctx, q.period, c.first, c.last).Scan(&stored); err != nil {
			return false, fmt.Errorf("upsert events: look for stored events from %s: %w", span(), err)
		}
		if !stored && c.hashed {
			c.keysNew = true
			return false, nil
		}
		if !stored || c.tenant == "" {
			// No stored event in the period (workbook IDs may still be
			// stored with another time), or several tenants: the
			// staging table's insert or merge decides.
			return stored, nil
		}
	}
	// The period holds events, but perhaps only another tenant's, or none
	// with these keys: a backfill of one tenant beside another, or of a
	// period partly loaded, or IDs from the workbook. Looking the keys up
	// costs far less than merging them.
	lo, hi := c.keyRange()
	var stored bool
	if err := tx.QueryRow(ctx, q.keyRange, c.tenant, lo, hi).Scan(&stored); err != nil {
		return false, fmt.Errorf("upsert events: look up the key range of events from %s: %w", span(), err)
	}
	if stored {
		if err := tx.QueryRow(ctx, q.keys, c.tenant, c.ids()).Scan(&stored); err != nil {
			return false, fmt.Errorf("upsert events: look up the keys of events from %s: %w", span(), err)
		}
	}
	c.keysNew = !stored
	return stored, nil
}

// chunk is up to limit events read from Upsert's iterator, copied, since
// the iterator may reuse an event's memory once the next one is asked for.
// Its rows feed CopyFrom: Values hands pgx pointers to the current event's
// fields wrapped in types that encode themselves, so a row costs no
// allocation beyond the attributes.
type chunk struct {
	limit int
	// What every row copied straight in gets: the run ID as first_run_id
	// and last_run_id, and the call's loaded_at.
	run      ordinalValue
	loadedAt timestamptz

	events []transform.Event
	read   int64 // events read in every chunk so far
	// first and last are the earliest and latest event time in the chunk.
	first, last time.Time
	hashed      bool // every event's ID is a content hash (HashedID)
	// keysNew: mayBeStored proved that no key of the chunk is stored.
	keysNew bool
	// tenant is every event's tenant, or "" when the chunk holds more
	// than one.
	tenant string
	keys   map[eventKey]struct{}
	idList []string

	// The row CopyFrom is at, and the values it is handed.
	i           int
	staging     bool
	values      []any
	ordinal     ordinalValue
	emptyObject []byte
}

func newChunk(limit int, runID int64, stamp time.Time) *chunk {
	return &chunk{
		limit:       limit,
		run:         ordinalValue(runID),
		loadedAt:    timestamptz(stamp),
		emptyObject: []byte(`{}`),
	}
}

type eventKey struct{ tenant, id string }

// fill reads the next chunk of events. It returns how many it read, 0 at the
// end of the events.
func (c *chunk) fill(next func() (*transform.Event, error, bool)) (int, error) {
	clear(c.events) // let the last chunk's strings go
	clear(c.idList)
	c.events = c.events[:0]
	c.hashed = true
	for len(c.events) < c.limit {
		ev, err, ok := next()
		if !ok {
			break
		}
		if err == nil && ev == nil {
			err = errors.New("nil event")
		}
		if err != nil {
			return 0, err
		}
		c.read++
		if len(c.events) == 0 || ev.EventTime.Before(c.first) {
			c.first = ev.EventTime
		}
		if len(c.events) == 0 || ev.EventTime.After(c.last) {
			c.last = ev.EventTime
		}
		c.hashed = c.hashed && ev.HashedID
		if len(c.events) == 0 {
			c.tenant = ev.Tenant
		} else if ev.Tenant != c.tenant {
			c.tenant = ""
		}
		c.events = append(c.events, *ev)
	}
	return len(c.events), nil
}

// distinct reports whether no key comes twice in the chunk. A chunk whose
// keys mayBeStored proved new, and distinct, can be copied straight into
// spark_events.
func (c *chunk) distinct() bool {
	if c.keys == nil {
		c.keys = make(map[eventKey]struct{}, len(c.events))
	}
	clear(c.keys)
	for i := range c.events {
		k := eventKey{c.events[i].Tenant, c.events[i].EventID}
		if _, dup := c.keys[k]; dup {
			return false
		}
		c.keys[k] = struct{}{}
	}
	return true
}

// keyRange returns the least and the greatest event ID of the chunk, in
// byte order.
func (c *chunk) keyRange() (lo, hi string) {
	for i := range c.events {
		id := c.events[i].EventID
		if i == 0 || id < lo {
			lo = id
		}
		if i == 0 || id > hi {
			hi = id
		}
	}
	return lo, hi
}

// ids returns the chunk's event IDs.
func (c *chunk) ids() []string {
	c.idList = c.idList[:0]
	for i := range c.events {
		c.idList = append(c.idList, c.events[i].EventID)
	}
	return c.idList
}

// rows returns c as a CopyFrom source from its first event: in
// stagingColumns when staging, else in insertColumns.
func (c *chunk) rows(staging bool) pgx.CopyFromSource {
	c.i, c.staging = -1, staging
	n := len(insertColumns())
	if staging {
		n = len(stagingColumns())
	}
	if cap(c.values) < n {
		c.values = make([]any, n)
	}
	c.values = c.values[:n]
	return c
}

func (c *chunk) Next() bool {
	c.i++
	return c.i < len(c.events)
}

func (c *chunk) Values() ([]any, error) {
	ev, v := &c.events[c.i], c.values
	v[0] = (*requiredText)(&ev.Tenant)
	v[1] = (*requiredText)(&ev.EventID)
	v[2] = (*timestamptz)(&ev.EventTime)
	v[3] = (*requiredText)(&ev.EventType)
	v[4] = (*optionalText)(&ev.UserName)
	v[5] = (*optionalText)(&ev.FolderID)
	v[6] = (*optionalText)(&ev.FolderName)
	v[7] = (*optionalText)(&ev.ServiceName)
	v[8] = (*optionalText)(&ev.ServiceVersion)
	v[9] = (*optionalText)(&ev.Description)
	v[10] = (*optionalText)(&ev.IPAddress)
	if len(ev.Attributes) == 0 {
		v[11] = c.emptyObject
	} else {
		v[11] = []byte(ev.Attributes)
	}
	if c.staging {
		// Ordinals count from 1 over the whole Upsert call, so the merge
		// can tell which of a key's occurrences came last.
		c.ordinal = ordinalValue(c.read - int64(len(c.events)) + int64(c.i) + 1)
		v[12] = &c.ordinal
	} else {
		v[12], v[13], v[14] = &c.run, &c.run, &c.loadedAt
	}
	return v, nil
}

func (c *chunk) Err() error { return nil }

// The types below let pgx encode event fields through pointers without
// boxing each value in an interface.

// requiredText encodes a NOT NULL text column as is.
type requiredText string

func (t *requiredText) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*t), Valid: true}, nil
}

// optionalText stores the empty string as NULL, the one spelling of
// "absent", so a re-load compares equal to what it stored.
type optionalText string

func (t *optionalText) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*t), Valid: *t != ""}, nil
}

type timestamptz time.Time

func (t *timestamptz) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: time.Time(*t), Valid: true}, nil
}

type ordinalValue int64

func (o *ordinalValue) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(*o), Valid: true}, nil
}
