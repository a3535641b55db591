-- event_id compares byte by byte (COLLATE "C") instead of by the database's
-- collation.
--
-- Why: every load looks each event up in the primary key (tenant, event_id):
-- the merge of a re-import or of a sync's overlapping day, and the key
-- lookup of a chunk whose period holds stored events. On a database whose
-- collation is not C, each comparison in those descents went through the
-- collation's rules (tenants compare equal without them, event IDs do not):
-- a re-import of a million unchanged events cost PostgreSQL 18-19 s of CPU
-- on en_US.utf8 against 11-12 s on C, and 10 s after this change
-- (bench/README.md, "Collation"). An ID is an identifier, which byte order
-- suits: equality is the same under every deterministic collation, and only
-- ORDER BY event_id changes, to byte order. A comparison with a text of the
-- default collation takes C, so queries and joins work as before.
--
-- Changing a column's type, collation included, is refused while a view
-- selects it, so the two views that select event_id (service_lifecycle and
-- permission_changes) are dropped and created again from their own
-- definitions, with their owner, options, comments and grants (of the view
-- and of its columns). A view of your own that selects event_id, or reads
-- one of those two views, makes this migration fail with PostgreSQL's
-- message naming it, as do triggers or rules added to those two views: drop
-- them, migrate, and create them again. The table is not rewritten, its
-- primary key is rebuilt and event_id analyzed (about 2 s for a million
-- events), and it is locked against reads and writes until the transaction
-- ends: run sparkevents migrate up when no load is due. A client that
-- prepared a statement reading event_id before the migration gets one
-- "cached plan must not change result type" error from it; pgx, for one,
-- prepares it again on the next call.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    CREATE TEMP TABLE sparkevents_views ON COMMIT DROP AS
    SELECT c.oid, c.relname::text AS name, pg_get_viewdef(c.oid) AS definition,
           obj_description(c.oid, 'pg_class') AS comment, c.relacl, c.relowner, c.reloptions
    FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind = 'v'
      AND c.relname IN ('service_lifecycle', 'permission_changes');
    CREATE TEMP TABLE sparkevents_view_columns ON COMMIT DROP AS
    SELECT v.name, a.attname::text AS column_name, col_description(v.oid, a.attnum) AS comment, a.attacl
    FROM sparkevents_views v
    JOIN pg_attribute a ON a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped;
    -- DROP VIEW would take these with it without a word.
    FOR r IN
        SELECT v.name FROM sparkevents_views v
        WHERE EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v.oid)
           OR EXISTS (SELECT FROM pg_rewrite w WHERE w.ev_class = v.oid AND w.rulename <> '_RETURN')
    LOOP
        RAISE EXCEPTION 'view % has triggers or rules of its own, which this migration would drop', r.name
            USING HINT = 'Drop them, run the migration, and create them again.';
    END LOOP;

    FOR r IN SELECT name FROM sparkevents_views LOOP
        EXECUTE format('DROP VIEW %I', r.name);
    END LOOP;
    ALTER TABLE spark_events ALTER COLUMN event_id TYPE text COLLATE "C";
    FOR r IN SELECT * FROM sparkevents_views LOOP
        EXECUTE format('CREATE VIEW %I AS %s', r.name, r.definition);
        EXECUTE format('ALTER VIEW %I OWNER TO %s', r.name, r.relowner::regrole);
        IF r.reloptions IS NOT NULL THEN
            EXECUTE format('ALTER VIEW %I SET (%s)', r.name, array_to_string(r.reloptions, ', '));
        END IF;
        EXECUTE format('COMMENT ON VIEW %I IS %L', r.name, r.comment);
    END LOOP;
    -- CREATE VIEW applied the default privileges, which may give back what
    -- was revoked: the views get exactly the grants they had.
    FOR r IN
        SELECT v.name, g.grantee
        FROM sparkevents_views v, pg_class c, aclexplode(c.relacl) g
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
          AND c.relname = v.name AND g.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE ALL ON %I FROM %s', r.name,
                       CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
    FOR r IN
        SELECT v.name, NULL::text AS column_name, g.privilege_type, g.grantee, g.is_grantable
        FROM sparkevents_views v, aclexplode(v.relacl) g
        WHERE g.grantee <> v.relowner
        UNION ALL
        SELECT c.name, c.column_name, g.privilege_type, g.grantee, g.is_grantable
        FROM sparkevents_view_columns c, aclexplode(c.attacl) g
    LOOP
        EXECUTE format('GRANT %s%s ON %I TO %s%s', r.privilege_type,
                       CASE WHEN r.column_name IS NULL THEN '' ELSE format(' (%I)', r.column_name) END,
                       r.name,
                       CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END,
                       CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR r IN SELECT * FROM sparkevents_view_columns WHERE comment IS NOT NULL LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', r.name, r.column_name, r.comment);
    END LOOP;
    -- The type change dropped the column's statistics, and no row changed
    -- for autovacuum to notice.
    ANALYZE spark_events (event_id);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    CREATE TEMP TABLE sparkevents_views ON COMMIT DROP AS
    SELECT c.oid, c.relname::text AS name, pg_get_viewdef(c.oid) AS definition,
           obj_description(c.oid, 'pg_class') AS comment, c.relacl, c.relowner, c.reloptions
    FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind = 'v'
      AND c.relname IN ('service_lifecycle', 'permission_changes');
    CREATE TEMP TABLE sparkevents_view_columns ON COMMIT DROP AS
    SELECT v.name, a.attname::text AS column_name, col_description(v.oid, a.attnum) AS comment, a.attacl
    FROM sparkevents_views v
    JOIN pg_attribute a ON a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped;
    -- DROP VIEW would take these with it without a word.
    FOR r IN
        SELECT v.name FROM sparkevents_views v
        WHERE EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v.oid)
           OR EXISTS (SELECT FROM pg_rewrite w WHERE w.ev_class = v.oid AND w.rulename <> '_RETURN')
    LOOP
        RAISE EXCEPTION 'view % has triggers or rules of its own, which this migration would drop', r.name
            USING HINT = 'Drop them, run the migration, and create them again.';
    END LOOP;

    FOR r IN SELECT name FROM sparkevents_views LOOP
        EXECUTE format('DROP VIEW %I', r.name);
    END LOOP;
    ALTER TABLE spark_events ALTER COLUMN event_id TYPE text COLLATE "default";
    FOR r IN SELECT * FROM sparkevents_views LOOP
        EXECUTE format('CREATE VIEW %I AS %s', r.name, r.definition);
        EXECUTE format('ALTER VIEW %I OWNER TO %s', r.name, r.relowner::regrole);
        IF r.reloptions IS NOT NULL THEN
            EXECUTE format('ALTER VIEW %I SET (%s)', r.name, array_to_string(r.reloptions, ', '));
        END IF;
        EXECUTE format('COMMENT ON VIEW %I IS %L', r.name, r.comment);
    END LOOP;
    -- CREATE VIEW applied the default privileges, which may give back what
    -- was revoked: the views get exactly the grants they had.
    FOR r IN
        SELECT v.name, g.grantee
        FROM sparkevents_views v, pg_class c, aclexplode(c.relacl) g
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
          AND c.relname = v.name AND g.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE ALL ON %I FROM %s', r.name,
                       CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
    FOR r IN
        SELECT v.name, NULL::text AS column_name, g.privilege_type, g.grantee, g.is_grantable
        FROM sparkevents_views v, aclexplode(v.relacl) g
        WHERE g.grantee <> v.relowner
        UNION ALL
        SELECT c.name, c.column_name, g.privilege_type, g.grantee, g.is_grantable
        FROM sparkevents_view_columns c, aclexplode(c.attacl) g
    LOOP
        EXECUTE format('GRANT %s%s ON %I TO %s%s', r.privilege_type,
                       CASE WHEN r.column_name IS NULL THEN '' ELSE format(' (%I)', r.column_name) END,
                       r.name,
                       CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END,
                       CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR r IN SELECT * FROM sparkevents_view_columns WHERE comment IS NOT NULL LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', r.name, r.column_name, r.comment);
    END LOOP;
    -- The type change dropped the column's statistics, and no row changed
    -- for autovacuum to notice.
    ANALYZE spark_events (event_id);
END
$$;
-- +goose StatementEnd
