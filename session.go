package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"sparkevents/pipeline"
)

// explainMissingTables says what to do when a command finds its schema
// without the tool's tables, a fresh database or a --schema typo, which
// PostgreSQL reports only as a missing relation.
func explainMissingTables(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := action(c)
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == undefinedTable {
			return fmt.Errorf("%w: schema %q has no sparkevents tables (%s): run sparkevents migrate up, a first sync or an import, or check --schema (SPARKEVENTS_SCHEMA)", pipeline.ErrDatabase, c.String("schema"), pgErr.Message)
		}
		return err
	}
}

// undefinedTable is PostgreSQL's SQLSTATE for a missing relation.
const undefinedTable = "42P01"

// session is what every command that touches the database needs.
type session struct {
	p   *pipeline.Pipeline
	log *slog.Logger
	bar *bar
}

// newBar is a progress bar when stderr is a terminal, else nil.
func newBar(c *cli.Context) *bar {
	if c.Bool("no-progress") || !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return &bar{w: os.Stderr}
}

// progress is the session's bar as a pipeline.Progress, nil when there is none.
func (s *session) progress() pipeline.Progress {
	if s.bar == nil {
		return nil
	}
	return s.bar
}

// newSession sets up logging and the progress bar. Under a progress bar,
// info lines would tear it: only warnings show unless the user asked for a
// level.
func newSession(c *cli.Context) (*session, error) {
	s := &session{bar: newBar(c)}
	logger, err := newLogger(c, s.bar != nil && !c.IsSet("log-level"))
	if err != nil {
		return nil, err
	}
	s.log = logger
	return s, nil
}

// openMaybeOffline opens a migrated pipeline, or when offline one without a
// database.
func openMaybeOffline(c *cli.Context, offline bool) (*session, error) {
	if !offline {
		return open(c, true)
	}
	s, err := newSession(c)
	if err != nil {
		return nil, err
	}
	s.p = pipeline.Offline(pipeline.Config{Logger: s.log, Progress: s.progress()})
	return s, nil
}

func open(c *cli.Context, migrate bool) (*session, error) {
	s, err := newSession(c)
	if err != nil {
		return nil, err
	}
	dbURL, err := databaseURL(c)
	if err != nil {
		return nil, err
	}
	s.p, err = pipeline.Open(c.Context, pipeline.Config{
		DatabaseURL: dbURL,
		Schema:      c.String("schema"),
		Logger:      s.log,
		Progress:    s.progress(),
	})
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := s.p.Migrate(c.Context); err != nil {
			s.p.Close()
			return nil, err
		}
	}
	return s, nil
}

func newLogger(c *cli.Context, quiet bool) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	if quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), nil
	}
	return nil, usageErr("--log-format %q: want text or json", c.String("log-format"))
}

// databaseURL is --database-url with the password of
// --database-password-file, if given, put in: as the URL's password, or as
// a password keyword after the key=value settings (or alone, beside the PG*
// variables).
func databaseURL(c *cli.Context) (string, error) {
	conn := c.String("database-url")
	if c.String("database-password-file") == "" {
		return conn, nil
	}
	pw, err := secret(c, "database-password")
	if err != nil {
		return "", err
	}
	return withPassword(conn, pw)
}

// withPassword puts pw into the connection string conn.
func withPassword(conn, pw string) (string, error) {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			return "", usageErr("--database-url is not a URL") // the error would show the password
		}
		u.User = url.UserPassword(u.User.Username(), pw)
		return u.String(), nil
	}
	quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
	return strings.TrimSpace(conn + " password=" + quoted), nil
}
