// Command sparkevents keeps a PostgreSQL copy of the Coherent Spark user-event
// log: it runs Spark's event export jobs, parses the workbooks they produce,
// and upserts the events, so analysts and BI dashboards can query them in SQL.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"sparkevents/analyst"
	"sparkevents/extract"
	"sparkevents/internal/gctune"
	"sparkevents/pipeline"
)

const version = "0.1.0"

// Exit codes, documented in the README; scripts may rely on them.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not listed below
	exitUsage       = 2 // bad flags or arguments, or a first sync without --since
	exitLocked      = 3 // another sync or backfill of the tenant is running
	exitInput       = 4 // a workbook was unreadable or had too many bad rows
	exitSpark       = 5 // the Spark API refused a request or an export job failed
	exitDatabase    = 6 // PostgreSQL unreachable, or the schema could not be migrated (or is newer than this binary)
	exitStale       = 7 // status --max-lag: a synced tenant lags by more than that, a tenant's syncs all failed, or none was synced
	exitInterrupted = 130
)

func main() {
	// GOGC=175 under a 256 MiB soft limit unless the environment says
	// otherwise (see internal/gctune).
	gctune.Apply(gctune.GCPercent)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := startCPUProfile(os.Getenv("SPARKEVENTS_CPUPROFILE"))
	err := newApp().RunContext(ctx, os.Args)
	stopProfile()
	code := exitCode(ctx, err)
	switch {
	case code == exitInterrupted:
		fmt.Fprintf(os.Stderr, "sparkevents: interrupted; what was in flight was rolled back (%v)\n", err)
	case err != nil:
		fmt.Fprintf(os.Stderr, "sparkevents: %v\n", err)
	}
	stop()
	os.Exit(code)
}

// startCPUProfile writes a CPU profile of the whole run to path, for
// bench/README.md's profiles of a real import; an empty path does nothing.
// A profile that cannot be written is reported, not fatal.
func startCPUProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sparkevents: cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "sparkevents: cpu profile: %v\n", err)
		f.Close()
		os.Remove(path)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "sparkevents: cpu profile: %v\n", err)
		}
	}
}

func exitCode(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, pipeline.ErrUsage), errors.Is(err, analyst.ErrRequest):
		return exitUsage
	case errors.Is(err, pipeline.ErrLocked):
		return exitLocked
	case errors.Is(err, pipeline.ErrInput):
		return exitInput
	case errors.Is(err, pipeline.ErrSpark):
		return exitSpark
	case errors.Is(err, pipeline.ErrDatabase):
		return exitDatabase
	case errors.Is(err, pipeline.ErrStale):
		return exitStale
	}
	// urfave/cli's own errors (an unknown command, say) are about usage;
	// their codes would collide with ours.
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return exitUsage
	}
	return exitFailure
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{pipeline.ErrUsage}, args...)...)
}

var (
	dbFlags = []cli.Flag{
		&cli.StringFlag{Name: "database-url", EnvVars: []string{"DATABASE_URL"}, Usage: "PostgreSQL connection string (URL or key=value); empty uses the standard PG* variables (PGHOST, PGUSER, PGPASSWORD, PGDATABASE, ...)"},
		&cli.StringFlag{Name: "schema", Value: "sparkevents", EnvVars: []string{"SPARKEVENTS_SCHEMA"}, Usage: "Postgres schema that holds every table and view of the tool"},
	}
	logFlags = []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"SPARKEVENTS_LOG_FORMAT"}, Usage: "structured log format on stderr: text or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"SPARKEVENTS_LOG_LEVEL"}, Usage: "debug, info, warn or error (under a progress bar, warn unless given)"},
		&cli.BoolFlag{Name: "no-progress", EnvVars: []string{"SPARKEVENTS_NO_PROGRESS"}, Usage: "no progress bar, even on a terminal"},
	}
	parseFlags = []cli.Flag{
		&cli.StringSliceFlag{Name: "column", Usage: "map a field to a workbook header, FIELD=HEADER (repeatable); fields: event_id, event_time, event_type, user_name, folder_id, folder_name, service_name, service_version, description, ip_address"},
		&cli.StringFlag{Name: "source-timezone", Value: "UTC", EnvVars: []string{"SPARKEVENTS_SOURCE_TIMEZONE"}, Usage: "time zone of workbook times written without one: an IANA zone (Asia/Singapore) or a UTC offset (+08:00, -0530, UTC+8, Z)"},
		&cli.BoolFlag{Name: "day-first", EnvVars: []string{"SPARKEVENTS_DAY_FIRST"}, Usage: "read slash dates such as 03/04/2026 as day/month (default month/day, as Excel US writes them)"},
		&cli.StringFlag{Name: "max-rejects", EnvVars: []string{"SPARKEVENTS_MAX_REJECTS"}, Usage: "fail a file (or window) whole when more rows than this are bad: a count (100) or a percentage (1%); empty is no limit"},
		&cli.BoolFlag{Name: "dry-run", Usage: "read and parse, but write nothing to the database"},
	}
	sparkFlags = []cli.Flag{
		&cli.StringFlag{Name: "spark-url", EnvVars: []string{"SPARK_URL"}, Usage: "Spark base URL, e.g. https://excel.myenv.coherent.global"},
		&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "Spark tenant"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"SPARK_TOKEN"}, Usage: "static bearer token (or use client credentials)"},
		&cli.StringFlag{Name: "client-id", EnvVars: []string{"SPARK_CLIENT_ID"}, Usage: "OAuth 2.0 client credentials: client id"},
		&cli.StringFlag{Name: "client-secret", EnvVars: []string{"SPARK_CLIENT_SECRET"}, Usage: "OAuth 2.0 client credentials: client secret"},
		&cli.StringFlag{Name: "token-url", EnvVars: []string{"SPARK_TOKEN_URL"}, Usage: "OAuth 2.0 token URL (default: the Keycloak URL derived from --spark-url and --tenant)"},
		&cli.StringSliceFlag{Name: "trusted-host", EnvVars: []string{"SPARK_TRUSTED_HOSTS"}, Usage: "other host that may receive the bearer token (repeatable); the --spark-url host always may"},
		&cli.DurationFlag{Name: "job-timeout", Value: 30 * time.Minute, EnvVars: []string{"SPARKEVENTS_JOB_TIMEOUT"}, Usage: "give up on an export job after this long"},
		&cli.DurationFlag{Name: "window", Value: 24 * time.Hour, Usage: "span of event time covered by one export job"},
		&cli.IntFlag{Name: "parallel", Value: 2, Usage: "export jobs in flight at once (windows still commit in order)"},
		&cli.IntFlag{Name: "page-size", Value: 100000, Usage: "rows asked for per export; a full export is split in two and fetched again"},
		&cli.DurationFlag{Name: "overlap", Value: time.Minute, Usage: "ask Spark for this much beyond each window's bounds, in case its bounds are exclusive (duplicates are absorbed)"},
		&cli.IntFlag{Name: "export-cap", EnvVars: []string{"SPARKEVENTS_EXPORT_CAP"}, Usage: "the most rows Spark puts in one export, if Spark support told you; 0 learns it (see the README: completeness)"},
		&cli.StringFlag{Name: "event-types-form", EnvVars: []string{"SPARKEVENTS_EVENT_TYPES_FORM"}, Usage: "send the event_types filter only as a JSON \"array\" or a JSON-encoded \"string\" (default: learned per tenant)"},
		&cli.StringFlag{Name: "folder-column", EnvVars: []string{"SPARKEVENTS_FOLDER_COLUMN"}, Usage: "send the folder filter only under \"folder_id\" or \"folderId\" (default: learned per tenant)"},
	}
	// filterFlags narrow an export. Only backfill has them: the watermark
	// is the tenant's, and a filtered sync would move it past the events
	// it left out.
	filterFlags = []cli.Flag{
		&cli.StringSliceFlag{Name: "event-type", Usage: "export only these event types (repeatable)"},
		&cli.StringFlag{Name: "user", Usage: "export only this user's events"},
		&cli.StringFlag{Name: "service", Usage: "export only this service's events"},
		&cli.StringFlag{Name: "folder-id", Usage: "export only this folder's events"},
	}
)

func flags(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "sparkevents",
		Version: version,
		Usage:   "keep a PostgreSQL copy of the Coherent Spark user-event log",
		Description: `sparkevents runs Spark's event export jobs (POST /{tenant}/api/v4/events/download),
downloads the workbooks they produce, and upserts the events into PostgreSQL,
idempotently: loading the same events twice changes nothing.

Typical use, every 15 minutes from cron:

   export DATABASE_URL=postgres://etl@db/analytics SPARK_URL=https://excel.myenv.coherent.global
   export SPARK_TENANT=mytenant SPARK_CLIENT_ID=... SPARK_CLIENT_SECRET=...
   sparkevents sync --since 720h     # the first time; later runs need no --since

Load workbooks downloaded by hand from the Event viewer:

   sparkevents import --tenant mytenant coherent_events.zip

Check from monitoring that the cron sync keeps up (exit 7 when it does not):

   sparkevents status --max-lag 1h

Exit codes: 0 ok, 1 failure, 2 usage, 3 tenant locked by another run,
4 bad input, 5 Spark API or job error, 6 database error, 7 a tenant behind
status --max-lag, 130 interrupted.

Memory: under 100 MiB for a workbook whose text repeats, as Spark's does
(about 50 MiB from 100k rows up); up to about 180 MiB for a million rows of
mostly distinct text (a column of IDs). GOMEMLIMIT=64MiB caps it lower, at
some cost in time.`,
		EnableBashCompletion: true,
		Commands: withCommonFlags(
			importCommand(), syncCommand(), backfillCommand(), statusCommand(), runsCommand(),
			migrateCommand(), queryCommand(), grantReaderCommand(), reportCommand(), doctorCommand(),
			rollupsCommand(),
		),
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // main prints and exits
	}
}

// withCommonFlags gives every command the connection and logging flags, so
// they go after the command name where users put them
// (sparkevents sync --database-url ...).
func withCommonFlags(cmds ...*cli.Command) []*cli.Command {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		if len(c.Subcommands) > 0 {
			withCommonFlags(c.Subcommands...)
			continue
		}
		c.Flags = append(c.Flags, flags(dbFlags, logFlags)...)
		if c.ArgsUsage == "" && c.Action != nil {
			c.Action = noArgs(c.Action)
		}
		if c.Action != nil {
			c.Action = explainMissingTables(c.Action)
		}
	}
	return cmds
}

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

// noArgs refuses arguments to a command that takes none: urfave/cli stops
// reading flags at the first one, so in "backfill --event-type A B --dry-run"
// the --dry-run after B would be silently ignored.
func noArgs(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return usageErr("unexpected argument %q: %s takes none, and flags after it would be ignored", c.Args().First(), c.Command.HelpName)
		}
		return action(c)
	}
}

// positional returns the command's arguments, refusing flags written after
// them: urfave/cli stops parsing flags at the first argument, and a flag
// taken for a file or query name would be silently wrong.
func positional(c *cli.Context, what string) ([]string, error) {
	args := c.Args().Slice()
	for _, a := range args {
		if strings.HasPrefix(a, "-") && a != "-" {
			return nil, usageErr("%s: flags go before %s (sparkevents %s [flags] %s)", a, what, c.Command.Name, what)
		}
	}
	return args, nil
}

// onUsageError makes a bad flag exit with the usage code.
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w: %w", pipeline.ErrUsage, err)
}

// session is what every command that touches the database needs.
type session struct {
	p   *pipeline.Pipeline
	log *slog.Logger
	bar *bar
}

// knownQuery fails with a usage error that lists the library when name is not in it.
func knownQuery(name string) error {
	qs, err := analyst.Queries()
	if err != nil {
		return err
	}
	var names []string
	for _, q := range qs {
		if q.Name == name {
			return nil
		}
		names = append(names, q.Name)
	}
	return usageErr("no query %q; the library has: %s", name, strings.Join(names, ", "))
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
	s.p, err = pipeline.Open(c.Context, pipeline.Config{
		DatabaseURL: c.String("database-url"),
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

func parseOptions(c *cli.Context) pipeline.ParseOptions {
	return pipeline.ParseOptions{
		Columns:        c.StringSlice("column"),
		SourceTimezone: c.String("source-timezone"),
		DayFirst:       c.Bool("day-first"),
		MaxRejects:     c.String("max-rejects"),
	}
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "load local event workbooks (.xlsx, or the .zip the Event viewer downloads)",
		ArgsUsage: "FILE...",
		Description: `Each file loads in one transaction: all its good rows, or nothing. Bad rows
are kept in etl_rejects with the reason. Importing a file again changes nothing.

   sparkevents import --tenant mytenant coherent_events_2026_03_03.xlsx
   sparkevents import --tenant mytenant --column event_time="When (UTC)" export.zip`,
		Flags: flags([]cli.Flag{
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "tenant the events belong to (required)"},
		}, parseFlags),
		Action: func(c *cli.Context) error {
			paths, err := positional(c, "FILE...")
			if err != nil {
				return err
			}
			if len(paths) == 0 {
				return usageErr("import needs at least one FILE")
			}
			if c.String("tenant") == "" {
				return usageErr("import needs --tenant (or SPARK_TENANT): the tenant the events belong to")
			}
			// A dry run only parses: it needs no database.
			s, err := openMaybeOffline(c, c.Bool("dry-run"))
			if err != nil {
				return err
			}
			defer s.p.Close()
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "FILE\tREAD\tINSERTED\tUPDATED\tUNCHANGED\tREJECTED\tRUN\t")
			err = s.p.Import(c.Context, pipeline.ImportOptions{
				Tenant: c.String("tenant"),
				Parse:  parseOptions(c),
				DryRun: c.Bool("dry-run"),
			}, paths, func(r pipeline.FileResult) {
				status := fmt.Sprint(r.RunID)
				switch {
				case r.Err != nil:
					status = "failed"
				case c.Bool("dry-run"):
					status = "dry run" // parsed only: nothing was written
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.Path, r.Counts.Read, r.Counts.Inserted,
					r.Counts.Updated, r.Counts.Unchanged, r.Counts.Rejected, status)
			})
			tw.Flush()
			return err
		},
	}
}

func syncOptions(c *cli.Context) (pipeline.SyncOptions, error) {
	var o pipeline.SyncOptions
	o.Spark.BaseURL = c.String("spark-url")
	o.Spark.Token = c.String("token")
	o.Spark.ClientID = c.String("client-id")
	o.Spark.ClientSecret = c.String("client-secret")
	o.Spark.TokenURL = c.String("token-url")
	o.Spark.TrustedHosts = c.StringSlice("trusted-host")
	o.Spark.JobTimeout = c.Duration("job-timeout")
	o.Spark.UserAgent = "sparkevents/" + version
	o.Tenant = c.String("tenant")
	o.Window = c.Duration("window")
	o.Parallel = c.Int("parallel")
	o.PageSize = c.Int("page-size")
	o.Overlap = c.Duration("overlap")
	o.ExportCap = c.Int("export-cap")
	if f, col := c.String("event-types-form"), c.String("folder-column"); f != "" || col != "" {
		o.Spark.Dialect = extract.Dialect{EventTypes: f, FolderColumn: col}
		o.Spark.FixDialect = true
	}
	o.EventTypes = c.StringSlice("event-type")
	o.UserName = c.String("user")
	o.ServiceName = c.String("service")
	o.FolderID = c.String("folder-id")
	o.Parse = parseOptions(c)
	o.DryRun = c.Bool("dry-run")
	switch {
	case o.Spark.BaseURL == "":
		return o, usageErr("--spark-url (SPARK_URL) is required")
	case o.Tenant == "":
		return o, usageErr("--tenant (SPARK_TENANT) is required")
	case o.Spark.Token == "" && (o.Spark.ClientID == "" || o.Spark.ClientSecret == ""):
		return o, usageErr("give a bearer token (SPARK_TOKEN) or client credentials (SPARK_CLIENT_ID and SPARK_CLIENT_SECRET)")
	case o.Window <= 0:
		return o, usageErr("--window must be positive")
	case o.Parallel < 1:
		return o, usageErr("--parallel must be at least 1")
	case o.PageSize < 1:
		return o, usageErr("--page-size must be at least 1")
	case o.Spark.JobTimeout <= 0:
		return o, usageErr("--job-timeout must be positive")
	case o.ExportCap < 0:
		return o, usageErr("--export-cap must not be negative")
	case !slices.Contains([]string{"", extract.EventTypesArray, extract.EventTypesString}, o.Spark.Dialect.EventTypes):
		return o, usageErr("--event-types-form %q: want array or string", o.Spark.Dialect.EventTypes)
	case !slices.Contains([]string{"", extract.FolderColumnSample, extract.FolderColumnTable}, o.Spark.Dialect.FolderColumn):
		return o, usageErr("--folder-column %q: want folder_id or folderId", o.Spark.Dialect.FolderColumn)
	}
	return o, nil
}

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "export new events from Spark and load them (run it from cron)",
		Description: `Plans [watermark - lookback, now - settle), splits it into windows, runs one
export job per window, and commits each window with the watermark moved to its
end, so a crash never moves the watermark past events not stored. The first
sync of a tenant needs --since. A second sync of the same tenant started while
one runs exits at once with code 3.

   sparkevents sync --since 2026-01-01      # first run
   sparkevents sync                         # every later run`,
		Flags: flags(sparkFlags, parseFlags, []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "where a tenant's first sync starts: a date (2026-01-01), an RFC 3339 time, or a duration back from now (720h, 30d)"},
			&cli.DurationFlag{Name: "lookback", Value: time.Hour, Usage: "re-read this much before the watermark, for events Spark logs late"},
			&cli.DurationFlag{Name: "settle", Value: time.Minute, Usage: "leave the newest events this long to settle before exporting them"},
			&cli.BoolFlag{Name: "skip-if-locked", EnvVars: []string{"SPARKEVENTS_SKIP_IF_LOCKED"}, Usage: "exit 0 instead of 3 when another sync or backfill of the tenant is running (for cron)"},
		}),
		Action: func(c *cli.Context) error {
			o, err := syncOptions(c)
			if err != nil {
				return err
			}
			o.Lookback, o.Settle = c.Duration("lookback"), c.Duration("settle")
			if err := o.Check("sync"); err != nil {
				return err
			}
			if s := c.String("since"); s != "" {
				if o.Since, err = pipeline.ParseTime(s, time.Now()); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			s, err := open(c, !o.DryRun)
			if err != nil {
				return err
			}
			defer s.p.Close()
			sum, err := s.p.Sync(c.Context, o)
			if errors.Is(err, pipeline.ErrLocked) && c.Bool("skip-if-locked") {
				s.log.Info("another sync or backfill of the tenant is running: skipped", "tenant", o.Tenant)
				return nil
			}
			if err == nil || sum.Windows > 0 {
				printSummary(c.App.Writer, "sync", o, sum)
			}
			return err
		},
	}
}

func backfillCommand() *cli.Command {
	return &cli.Command{
		Name:  "backfill",
		Usage: "export and load a past range of events, leaving the watermark alone",
		Description: `Runs the same windows as sync over [--from, --to). Events already stored are
left unchanged, so a backfill over loaded history is safe and cheap. Windows
commit one by one, in order: a backfill that fails or is interrupted keeps
the windows before the one that failed, and its error gives the --from to go
on from.

   sparkevents backfill --from 2025-01-01 --to 2025-07-01 --parallel 4

--event-type, --user, --service and --folder-id narrow the export; only a
backfill takes them, since a sync moves the tenant's watermark past what a
filter would leave out.`,
		Flags: flags(sparkFlags, filterFlags, parseFlags, []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "start of the range (required): a date, an RFC 3339 time, or a duration back from now"},
			&cli.StringFlag{Name: "to", Usage: "end of the range (exclusive); default now", Value: "0s"},
		}),
		Action: func(c *cli.Context) error {
			o, err := syncOptions(c)
			if err != nil {
				return err
			}
			if err := o.Check("backfill"); err != nil {
				return err
			}
			from, to, err := timeRange(c)
			if err != nil {
				return err
			}
			s, err := open(c, !o.DryRun)
			if err != nil {
				return err
			}
			defer s.p.Close()
			sum, err := s.p.Backfill(c.Context, o, from, to)
			if err == nil || sum.Windows > 0 {
				printSummary(c.App.Writer, "backfill", o, sum)
			}
			return err
		},
	}
}

// timeRange reads --from and --to against one clock.
func timeRange(c *cli.Context) (from, to time.Time, err error) {
	if c.String("from") == "" {
		return from, to, usageErr("--from is required: a date, an RFC 3339 time, or a duration back from now")
	}
	now := time.Now()
	if from, err = pipeline.ParseTime(c.String("from"), now); err != nil {
		return from, to, fmt.Errorf("--from: %w", err)
	}
	if to, err = pipeline.ParseTime(c.String("to"), now); err != nil {
		return from, to, fmt.Errorf("--to: %w", err)
	}
	return from, to, nil
}

func printSummary(w io.Writer, kind string, o pipeline.SyncOptions, s pipeline.Summary) {
	dry := ""
	if o.DryRun {
		dry = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "%s %s: %d windows from %s to %s%s\n", kind, o.Tenant, s.Windows, fmtTime(s.From), fmtTime(s.To), dry)
	fmt.Fprintf(w, "  read %d, inserted %d, updated %d, unchanged %d, rejected %d; %d requests, %.1f MiB downloaded\n",
		s.Counts.Read, s.Counts.Inserted, s.Counts.Updated, s.Counts.Unchanged, s.Counts.Rejected, s.Requests, float64(s.Bytes)/(1<<20))
	if !s.Watermark.IsZero() {
		fmt.Fprintf(w, "  watermark now %s\n", fmtTime(s.Watermark))
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show each tenant's watermark, lag, last run, rows and recent rejects; with --max-lag, a health check",
		Description: `LAG is how far behind now the tenant's watermark is: every event before the
watermark is stored. It grows by the time since the last successful sync,
plus --settle. With --max-lag, status is a health check for monitoring or
cron: after the table it exits 7 and says why when a tenant that has run a
sync (or the --tenant given) lags by more than that, or has no watermark
because its syncs have all failed, or when no tenant was ever synced. A
first sync still running is not a failure. Lags are measured with this
host's clock.

   sparkevents status --max-lag 1h                  # alert when a 15-minute cron sync stops working
   sparkevents status --tenant acme --format json   # for scripts`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tenant", Usage: "only this tenant (default: every tenant)"},
			&cli.DurationFlag{Name: "max-lag", Usage: "exit 7 when a synced tenant's watermark is older than this (e.g. 1h), or a tenant's syncs have all failed; 0 checks nothing"},
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
		},
		Action: func(c *cli.Context) error {
			maxLag, format, tenant := c.Duration("max-lag"), c.String("format"), c.String("tenant")
			if maxLag < 0 {
				return usageErr("--max-lag %s is negative", maxLag)
			}
			if format != "table" && format != "json" {
				return usageErr("unknown --format %q: table or json", format)
			}
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			all, err := s.p.Status(c.Context)
			if err != nil {
				return err
			}
			sts := all[:0:0]
			for _, st := range all {
				if tenant == "" || st.Tenant == tenant {
					sts = append(sts, st)
				}
			}
			now := time.Now()
			if format == "json" {
				err = writeStatusJSON(c.App.Writer, sts, now)
			} else {
				err = writeStatusTable(c.App.Writer, sts, now)
			}
			if err != nil || maxLag == 0 {
				return err
			}
			return pipeline.CheckLag(sts, tenant, maxLag, now)
		},
	}
}

// writeStatusTable prints one line per tenant, for people.
func writeStatusTable(w io.Writer, sts []pipeline.TenantStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tWATERMARK\tLAG\tEVENTS\tLAST EVENT\tLAST SYNC\tLAST RUN\tSTATUS\tREJECTS 24H\tEXPORT CAP")
	for _, st := range sts {
		wm, lag, last, sync, run, status := "-", "-", "-", "-", "-", "-"
		if st.Watermark != nil {
			wm = fmtTime(*st.Watermark)
			lag = now.Sub(*st.Watermark).Round(time.Second).String()
		}
		if st.LastEvent != nil {
			last = fmtTime(*st.LastEvent)
		}
		// A backfill or an import after it must not hide a failing cron sync.
		if st.LastSync != nil {
			sync = st.LastSync.Status + " " + fmtTime(st.LastSync.StartedAt)
		}
		if st.LastRun != nil {
			run = fmt.Sprintf("%d %s %s", st.LastRun.ID, st.LastRun.Kind, fmtTime(st.LastRun.StartedAt))
			status = st.LastRun.Status
			if st.LastRun.Error != "" {
				status += ": " + firstLine(st.LastRun.Error)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", st.Tenant, wm, lag, st.Events, last, sync, run, status, st.RejectsLastDay, exportCap(st.Spark))
	}
	return tw.Flush()
}

// exportCap says in a few words what is known of how Spark caps the
// tenant's exports.
func exportCap(p *pipeline.Profile) string {
	switch {
	case p == nil:
		return "-"
	case p.CapRows > 0:
		return fmt.Sprintf("%d rows (learned)", p.CapRows)
	case p.HonoursPageSize != nil && *p.HonoursPageSize:
		return fmt.Sprintf("the page size; >= %d rows", p.MaxRows)
	}
	return fmt.Sprintf("none seen; >= %d rows", p.MaxRows)
}

// statusJSON is one tenant of status --format json. Field names are part of
// the interface scripts rely on: add fields, do not rename them.
type statusJSON struct {
	Tenant         string     `json:"tenant"`
	Watermark      *time.Time `json:"watermark"`
	LagSeconds     *float64   `json:"lag_seconds"`
	Events         int64      `json:"events"`
	LastEvent      *time.Time `json:"last_event"`
	LastSync       *runJSON   `json:"last_sync"`
	LastRun        *runJSON   `json:"last_run"`
	RejectsLastDay int64      `json:"rejects_24h"`
	Spark          *sparkJSON `json:"spark"`
}

// sparkJSON is what syncs learned about a tenant's Spark.
type sparkJSON struct {
	HonoursPageSize *bool     `json:"honours_page_size"`
	CapRows         *int      `json:"cap_rows"`
	MaxRows         int       `json:"max_rows"`
	EventTypes      string    `json:"event_types_form,omitempty"`
	OneJob          bool      `json:"one_job"`
	UpdatedAt       time.Time `json:"updated_at"`
}

type runJSON struct {
	ID         int64      `json:"run_id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error,omitempty"`
}

// writeStatusJSON prints the tenants as one indented JSON array, for
// scripts; times are UTC and absent ones null.
func writeStatusJSON(w io.Writer, sts []pipeline.TenantStatus, now time.Time) error {
	run := func(r *pipeline.RunInfo) *runJSON {
		if r == nil {
			return nil
		}
		return &runJSON{ID: r.ID, Kind: r.Kind, Status: r.Status, StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt), Error: r.Error}
	}
	out := make([]statusJSON, 0, len(sts))
	for _, st := range sts {
		j := statusJSON{Tenant: st.Tenant, Watermark: utcPtr(st.Watermark), Events: st.Events, LastEvent: utcPtr(st.LastEvent),
			LastSync: run(st.LastSync), LastRun: run(st.LastRun), RejectsLastDay: st.RejectsLastDay}
		if p := st.Spark; p != nil {
			j.Spark = &sparkJSON{HonoursPageSize: p.HonoursPageSize, MaxRows: p.MaxRows, EventTypes: p.EventTypes, OneJob: p.OneJob, UpdatedAt: p.UpdatedAt.UTC()}
			if p.CapRows > 0 {
				j.Spark.CapRows = &p.CapRows
			}
		}
		if st.Watermark != nil {
			lag := now.Sub(*st.Watermark).Round(time.Second).Seconds()
			j.LagSeconds = &lag
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// utcPtr keeps nil as nil, for JSON's null.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// firstLine shortens an error to one line of at most about 120 bytes,
// keeping its start and its end, where the advice in parentheses is.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:50]+" ... "+s[len(s)-65:], "")
	}
	return s
}

func runsCommand() *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list recent runs, newest first",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "only this tenant's runs (SPARK_TENANT sets it too: --tenant '' shows every tenant's)"},
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "how many runs, newest first; 0 for all"},
		},
		Action: func(c *cli.Context) error {
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			runs, err := s.p.Runs(c.Context, c.String("tenant"), c.Int("limit"))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tKIND\tTENANT\tSTATUS\tSTARTED\tSECONDS\tREAD\tINSERTED\tUPDATED\tUNCHANGED\tREJECTED\tSOURCE\tERROR")
			for _, r := range runs {
				secs := "-"
				if r.FinishedAt != nil {
					secs = fmt.Sprintf("%.1f", r.FinishedAt.Sub(r.StartedAt).Seconds())
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Kind, r.Tenant, r.Status,
					fmtTime(r.StartedAt), secs, r.Counts.Read, r.Counts.Inserted, r.Counts.Updated, r.Counts.Unchanged,
					r.Counts.Rejected, r.Source, firstLine(r.Error))
			}
			return tw.Flush()
		},
	}
}

func migrateCommand() *cli.Command {
	action := func(f func(c *cli.Context, s *session) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			return f(c, s)
		}
	}
	return &cli.Command{
		Name:  "migrate",
		Usage: "manage the database schema (writers migrate up on their own)",
		Subcommands: []*cli.Command{
			{Name: "up", Usage: "apply every pending migration", Action: action(func(c *cli.Context, s *session) error {
				return s.p.Migrate(c.Context)
			})},
			{Name: "down", Usage: "roll the newest migration back", Action: action(func(c *cli.Context, s *session) error {
				return s.p.MigrateDown(c.Context)
			})},
			{Name: "status", Usage: "list migrations and whether each is applied", Action: action(func(c *cli.Context, s *session) error {
				ms, err := s.p.MigrationStatus(c.Context)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tAPPLIED\tSOURCE")
				for _, m := range ms {
					applied := "pending"
					if m.Applied {
						applied = fmtTime(m.AppliedAt)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, applied, m.Source)
				}
				return tw.Flush()
			})},
			{Name: "version", Usage: "print the newest applied migration", Action: action(func(c *cli.Context, s *session) error {
				v, err := s.p.SchemaVersion(c.Context)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, v)
				return nil
			})},
		},
	}
}

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "run a query of the analyst library (alone: list them)",
		ArgsUsage: "[NAME]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "param", Usage: "query parameter NAME=VALUE (repeatable)"},
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"},
		},
		Action: func(c *cli.Context) error {
			args, err := positional(c, "NAME")
			if err != nil {
				return err
			}
			if len(args) == 0 {
				qs, err := analyst.Queries()
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				for _, q := range qs {
					var ps []string
					for _, p := range q.Params {
						ps = append(ps, p.Name+"="+p.Default)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", q.Name, q.Question, strings.Join(ps, " "))
				}
				return tw.Flush()
			}
			params := map[string]string{}
			for _, kv := range c.StringSlice("param") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageErr("--param %q: want NAME=VALUE", kv)
				}
				params[k] = v
			}
			if err := knownQuery(args[0]); err != nil {
				return err
			}
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			return analyst.RunQuery(c.Context, s.p.DB(), args[0], params, c.String("format"), c.App.Writer)
		},
	}
}

func grantReaderCommand() *cli.Command {
	return &cli.Command{
		Name:      "grant-reader",
		Usage:     "let a BI role read the schema's tables and views (now and future), nothing more",
		ArgsUsage: "ROLE",
		Description: `The role must exist:

   psql -c "CREATE ROLE metabase LOGIN PASSWORD '...'"
   sparkevents grant-reader metabase`,
		Action: func(c *cli.Context) error {
			args, err := positional(c, "ROLE")
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErr("grant-reader needs exactly one ROLE")
			}
			s, err := open(c, true)
			if err != nil {
				return err
			}
			defer s.p.Close()
			return analyst.GrantReader(c.Context, s.p.DB(), s.p.Schema(), args[0])
		},
	}
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "write a self-contained HTML report (opens offline)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Value: "30d", Usage: "start: a date, an RFC 3339 time, or a duration back from now"},
			&cli.StringFlag{Name: "to", Value: "0s", Usage: "end (exclusive)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "report.html", Usage: "file to write; - for stdout"},
		},
		Action: func(c *cli.Context) error {
			from, to, err := timeRange(c)
			if err != nil {
				return err
			}
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			out := c.String("output")
			if out == "-" {
				return analyst.Report(c.Context, s.p.DB(), from, to, c.App.Writer)
			}
			// Write beside the target and rename, so a failure never
			// leaves an empty or half report where the last good one was.
			f, err := os.CreateTemp(filepath.Dir(out), ".report-*.html")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			if err := analyst.Report(c.Context, s.p.DB(), from, to, f); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Chmod(f.Name(), 0o644); err != nil {
				return err
			}
			return os.Rename(f.Name(), out)
		},
	}
}
