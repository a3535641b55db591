// Command sparkevents keeps a PostgreSQL copy of the Coherent Spark user-event
// log: it runs Spark's event export jobs, parses the workbooks they produce,
// and upserts the events, so analysts and BI dashboards can query them in SQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/analyst"
	"sparkevents/extract"
	"sparkevents/internal/gctune"
	"sparkevents/internal/when"
	"sparkevents/pipeline"
)

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
	case errors.Is(err, pipeline.ErrUsage), errors.Is(err, analyst.ErrRequest), errors.Is(err, when.ErrSyntax):
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

// The shared flag groups are functions, not variables: a flag's value
// (a when.Duration, say) is set in place, and each app (one per test run)
// must start from the defaults.

func dbFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "database-url", EnvVars: []string{"DATABASE_URL"}, Usage: "PostgreSQL connection string (URL or key=value); empty uses the standard PG* variables (PGHOST, PGUSER, PGPASSWORD, PGDATABASE, ...)"},
		&cli.StringFlag{Name: "database-password-file", EnvVars: []string{"DATABASE_PASSWORD_FILE"}, Usage: "read the database password from this file (a Kubernetes or Docker secret), instead of the URL or PGPASSWORD"},
		&cli.StringFlag{Name: "schema", Value: "sparkevents", EnvVars: []string{"SPARKEVENTS_SCHEMA"}, Usage: "Postgres schema that holds every table and view of the tool"},
	}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"SPARKEVENTS_LOG_FORMAT"}, Usage: "structured log format on stderr: text or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"SPARKEVENTS_LOG_LEVEL"}, Usage: "debug, info, warn or error (under a progress bar, warn unless given)"},
		&cli.BoolFlag{Name: "no-progress", EnvVars: []string{"SPARKEVENTS_NO_PROGRESS"}, Usage: "no progress bar, even on a terminal"},
	}
}

func parseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "column", EnvVars: []string{"SPARKEVENTS_COLUMN"}, Usage: "map a field to a workbook header, FIELD=HEADER (repeatable); fields: event_id, event_time, event_type, user_name, folder_id, folder_name, service_name, service_version, description, ip_address"},
		&cli.StringFlag{Name: "source-timezone", Value: "UTC", EnvVars: []string{"SPARKEVENTS_SOURCE_TIMEZONE"}, Usage: "time zone of workbook times written without one: an IANA zone (Asia/Singapore) or a UTC offset (+08:00, -0530, UTC+8, Z)"},
		&cli.BoolFlag{Name: "day-first", EnvVars: []string{"SPARKEVENTS_DAY_FIRST"}, Usage: "read slash dates such as 03/04/2026 as day/month (default month/day, as Excel US writes them)"},
		&cli.StringFlag{Name: "max-rejects", EnvVars: []string{"SPARKEVENTS_MAX_REJECTS"}, Usage: "fail a file (or window) whole when more rows than this are bad: a count (100) or a percentage (1%); empty is no limit"},
		&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"SPARKEVENTS_DRY_RUN"}, Usage: "read and parse, but write nothing to the database"},
		&cli.StringFlag{Name: "reader", Value: "fast", EnvVars: []string{"SPARKEVENTS_READER"}, Usage: "worksheet reader: fast, or excelize (the reference, several times slower)"},
		hmacKeyFileFlag(),
	}
}

func sparkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "spark-url", EnvVars: []string{"SPARK_URL"}, Usage: "Spark base URL, e.g. https://excel.myenv.coherent.global"},
		&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "Spark tenant"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"SPARK_TOKEN"}, Usage: "static bearer token (or use client credentials)"},
		&cli.StringFlag{Name: "token-file", EnvVars: []string{"SPARK_TOKEN_FILE"}, Usage: "read the bearer token from this file (a Kubernetes or Docker secret)"},
		&cli.StringFlag{Name: "client-id", EnvVars: []string{"SPARK_CLIENT_ID"}, Usage: "OAuth 2.0 client credentials: client id"},
		&cli.StringFlag{Name: "client-secret", EnvVars: []string{"SPARK_CLIENT_SECRET"}, Usage: "OAuth 2.0 client credentials: client secret"},
		&cli.StringFlag{Name: "client-secret-file", EnvVars: []string{"SPARK_CLIENT_SECRET_FILE"}, Usage: "read the client secret from this file (a Kubernetes or Docker secret)"},
		&cli.StringFlag{Name: "token-url", EnvVars: []string{"SPARK_TOKEN_URL"}, Usage: "OAuth 2.0 token URL (default: the Keycloak URL derived from --spark-url and --tenant)"},
		&cli.StringSliceFlag{Name: "trusted-host", EnvVars: []string{"SPARK_TRUSTED_HOSTS"}, Usage: "other host that may receive the bearer token (repeatable); the --spark-url host always may"},
		durationFlag("job-timeout", 30*time.Minute, "SPARKEVENTS_JOB_TIMEOUT", "give up on an export job after this long"),
		durationFlag("window", when.Day, "SPARKEVENTS_WINDOW", "span of event time covered by one export job"),
		&cli.IntFlag{Name: "parallel", Value: 2, EnvVars: []string{"SPARKEVENTS_PARALLEL"}, Usage: "export jobs in flight at once (windows still commit in order)"},
		&cli.IntFlag{Name: "page-size", Value: 100000, EnvVars: []string{"SPARKEVENTS_PAGE_SIZE"}, Usage: "rows asked for per export; a full export is split in two and fetched again"},
		durationFlag("overlap", time.Minute, "SPARKEVENTS_OVERLAP", "ask Spark for this much beyond each window's bounds, in case its bounds are exclusive (duplicates are absorbed)"),
		&cli.IntFlag{Name: "export-cap", EnvVars: []string{"SPARKEVENTS_EXPORT_CAP"}, Usage: "the most rows Spark puts in one export, if Spark support told you; 0 learns it (see the README: completeness)"},
		&cli.StringFlag{Name: "event-types-form", EnvVars: []string{"SPARKEVENTS_EVENT_TYPES_FORM"}, Usage: "send the event_types filter only as a JSON \"array\" or a JSON-encoded \"string\" (default: learned per tenant)"},
		&cli.StringFlag{Name: "folder-column", EnvVars: []string{"SPARKEVENTS_FOLDER_COLUMN"}, Usage: "send the folder filter only under \"folder_id\" or \"folderId\" (default: learned per tenant)"},
	}
}

// filterFlags narrow an export. Only backfill has them: the watermark is
// the tenant's, and a filtered sync would move it past the events it left
// out.
func filterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "event-type", EnvVars: []string{"SPARKEVENTS_EVENT_TYPE"}, Usage: "export only these event types (repeatable)"},
		&cli.StringFlag{Name: "user", EnvVars: []string{"SPARKEVENTS_USER"}, Usage: "export only this user's events"},
		&cli.StringFlag{Name: "service", EnvVars: []string{"SPARKEVENTS_SERVICE"}, Usage: "export only this service's events"},
		&cli.StringFlag{Name: "folder-id", EnvVars: []string{"SPARKEVENTS_FOLDER_ID"}, Usage: "export only this folder's events"},
	}
}

// durationFlag is a flag in the one duration grammar (see internal/when):
// 90s, 15m, 36h, 30d, 2w.
func durationFlag(name string, def time.Duration, env, usage string) cli.Flag {
	return &cli.GenericFlag{Name: name, Value: when.NewDuration(def), EnvVars: []string{env}, Usage: usage + " (" + durationHint + ")"}
}

// timeFlag is a flag in the one time grammar: now, a date, an RFC 3339
// time, or a duration back from now. def "" is no default.
func timeFlag(name, def, env, usage string) cli.Flag {
	v := &when.Time{}
	if def != "" {
		v = when.NewTime(def)
	}
	return &cli.GenericFlag{Name: name, Value: v, EnvVars: []string{env}, Usage: usage + ": " + timeHint}
}

const (
	durationHint = "90s, 15m, 36h, 30d, 2w"
	timeHint     = "now, a date (2026-01-01), an RFC 3339 time, or a duration back from now (90s, 15m, 36h, 30d, 2w)"
)

// duration is the value of a durationFlag.
func duration(c *cli.Context, name string) time.Duration {
	if v, ok := c.Generic(name).(*when.Duration); ok {
		return v.D
	}
	return 0
}

// timeValue is the value of a timeFlag, nil when it has none.
func timeValue(c *cli.Context, name string) *when.Time {
	if v, ok := c.Generic(name).(*when.Time); ok && !v.IsZero() {
		return v
	}
	return nil
}

func flags(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { writeVersion(c.App.Writer) }
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
		Commands: append(withCommonFlags(
			importCommand(), syncCommand(), backfillCommand(), statusCommand(), runsCommand(),
			migrateCommand(), queryCommand(), grantReaderCommand(), reportCommand(), doctorCommand(),
			retireCommand(), rollupsCommand(), pruneCommand(), forgetCommand(),
		), withUsageErrors(versionCommand(), completionCommand())...),
		Action:         unknownCommand,
		OnUsageError:   onUsageError(nil),
		ExitErrHandler: func(*cli.Context, error) {}, // main prints and exits
	}
}

// withCommonFlags gives every command the connection and logging flags, so
// they go after the command name where users put them
// (sparkevents sync --database-url ...).
func withCommonFlags(cmds ...*cli.Command) []*cli.Command {
	for _, c := range withUsageErrors(cmds...) {
		if len(c.Subcommands) > 0 {
			withCommonFlags(c.Subcommands...)
			continue
		}
		c.Flags = append(c.Flags, flags(dbFlags(), logFlags())...)
		if c.ArgsUsage == "" && c.Action != nil {
			c.Action = noArgs(c.Action)
		}
		if c.Action != nil {
			c.Action = explainMissingTables(c.Action)
		}
	}
	return cmds
}

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

// withUsageErrors makes the commands' bad flags, and unknown subcommands,
// usage errors that suggest what was meant.
func withUsageErrors(cmds ...*cli.Command) []*cli.Command {
	for _, c := range cmds {
		c.OnUsageError = onUsageError(c)
		if len(c.Subcommands) > 0 && c.Action == nil {
			c.Action = unknownCommand
		}
	}
	return cmds
}

// onUsageError makes a bad flag of cmd (nil: of the app) exit with the
// usage code, and suggests the flag meant.
func onUsageError(cmd *cli.Command) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
		if !ok || cli.SuggestFlag == nil {
			return fmt.Errorf("%w: %w", pipeline.ErrUsage, err)
		}
		var fs []cli.Flag
		if cmd != nil {
			fs = cmd.Flags
		} else {
			fs = c.App.Flags
		}
		hint := ""
		if s := cli.SuggestFlag(fs, strings.TrimLeft(name, "-"), false); s != "" {
			hint = fmt.Sprintf("; did you mean %s?", s)
		}
		help := "sparkevents --help"
		if cmd != nil {
			help = "sparkevents " + cmd.Name + " --help"
		}
		return fmt.Errorf("%w: %w%s (%s lists them)", pipeline.ErrUsage, err, hint, help)
	}
}

// unknownCommand is the action of the app and of commands with
// subcommands: with no argument it shows the help, with one it says that
// no such command exists and suggests the one meant.
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowSubcommandHelp(c)
	}
	cmds, help := c.App.Commands, "sparkevents help"
	if c.Command != nil && len(c.Command.Subcommands) > 0 && c.Command.Name != c.App.Name {
		cmds, help = c.Command.Subcommands, "sparkevents "+c.Command.Name+" --help"
	}
	hint := ""
	if cli.SuggestCommand != nil {
		var names []*cli.Command
		for _, cmd := range cmds {
			if !cmd.Hidden && cmd.Name != "help" {
				names = append(names, cmd)
			}
		}
		if s := closestCommand(names, c.Args().First()); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
	}
	return usageErr("no command %q%s (%s lists them)", c.Args().First(), hint, help)
}

// closestCommand is the command name most like typed, as urfave/cli
// suggests it.
func closestCommand(cmds []*cli.Command, typed string) string {
	s := cli.SuggestCommand(cmds, typed)
	if i, j := strings.IndexByte(s, '"'), strings.LastIndexByte(s, '"'); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return ""
}

func parseOptions(c *cli.Context) pipeline.ParseOptions {
	return pipeline.ParseOptions{
		Columns:        c.StringSlice("column"),
		SourceTimezone: c.String("source-timezone"),
		DayFirst:       c.Bool("day-first"),
		MaxRejects:     c.String("max-rejects"),
		Reader:         c.String("reader"),
		HMACKeyFile:    c.String("hmac-key-file"),
	}
}

// syncOptions reads the options of sync, backfill and doctor from the
// flags and checks them.
func syncOptions(c *cli.Context) (pipeline.SyncOptions, error) {
	o, err := flagSyncOptions(c)
	if err != nil {
		return o, err
	}
	return o, checkSyncOptions(o)
}

// flagSyncOptions reads the options of sync, backfill and doctor from the
// flags, their defaults included, unchecked: a config file may fill in
// what they lack (see syncTargets). Only a secret file that cannot be read
// is an error here.
func flagSyncOptions(c *cli.Context) (pipeline.SyncOptions, error) {
	var o pipeline.SyncOptions
	o.Spark.BaseURL = c.String("spark-url")
	var err error
	if o.Spark.Token, err = secret(c, "token"); err != nil {
		return o, err
	}
	o.Spark.ClientID = c.String("client-id")
	if o.Spark.ClientSecret, err = secret(c, "client-secret"); err != nil {
		return o, err
	}
	o.Spark.TokenURL = c.String("token-url")
	o.Spark.TrustedHosts = c.StringSlice("trusted-host")
	o.Spark.JobTimeout = duration(c, "job-timeout")
	o.Spark.UserAgent = "sparkevents/" + version
	o.Tenant = c.String("tenant")
	o.Window = duration(c, "window")
	o.Parallel = c.Int("parallel")
	o.PageSize = c.Int("page-size")
	o.Overlap = duration(c, "overlap")
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
	return o, nil
}

// checkSyncOptions refuses options a sync, backfill or doctor cannot run
// with.
func checkSyncOptions(o pipeline.SyncOptions) error {
	switch {
	case o.Spark.BaseURL == "":
		return usageErr("--spark-url (SPARK_URL) is required")
	case o.Tenant == "":
		return usageErr("--tenant (SPARK_TENANT) is required")
	case o.Spark.Token == "" && (o.Spark.ClientID == "" || o.Spark.ClientSecret == ""):
		return usageErr("give a bearer token (SPARK_TOKEN or SPARK_TOKEN_FILE) or client credentials (SPARK_CLIENT_ID and SPARK_CLIENT_SECRET or SPARK_CLIENT_SECRET_FILE)")
	case o.Window <= 0:
		return usageErr("--window must be positive")
	case o.Parallel < 1:
		return usageErr("--parallel must be at least 1")
	case o.PageSize < 1:
		return usageErr("--page-size must be at least 1")
	case o.Spark.JobTimeout <= 0:
		return usageErr("--job-timeout must be positive")
	case o.ExportCap < 0:
		return usageErr("--export-cap must not be negative")
	case !slices.Contains([]string{"", extract.EventTypesArray, extract.EventTypesString}, o.Spark.Dialect.EventTypes):
		return usageErr("--event-types-form %q: want array or string", o.Spark.Dialect.EventTypes)
	case !slices.Contains([]string{"", extract.FolderColumnSample, extract.FolderColumnTable}, o.Spark.Dialect.FolderColumn):
		return usageErr("--folder-column %q: want folder_id or folderId", o.Spark.Dialect.FolderColumn)
	}
	return nil
}

// timeRange reads --from and --to against one clock; --from must come
// before --to.
func timeRange(c *cli.Context) (from, to time.Time, err error) {
	f, t := timeValue(c, "from"), timeValue(c, "to")
	if f == nil {
		return from, to, usageErr("--from is required: %s", timeHint)
	}
	now := time.Now()
	from, to = f.At(now), now
	if t != nil {
		to = t.At(now)
	}
	if !from.Before(to) {
		return from, to, usageErr("--from %s (%s) is not before --to %s (%s)", f, fmtTime(from), c.Generic("to"), fmtTime(to))
	}
	return from, to, nil
}

// secret reads the flag name, or the file its name-file flag gives, for
// Kubernetes and Docker secrets; one of the two, not both. A trailing
// newline in the file is not part of the secret.
func secret(c *cli.Context, name string) (string, error) {
	v, path := c.String(name), c.String(name+"-file")
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", usageErr("give --%s or --%s-file, not both", name, name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageErr("--%s-file: %v", name, err)
	}
	v = strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", usageErr("--%s-file %s is empty", name, path)
	}
	return v, nil
}
