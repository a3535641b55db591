// Package config reads sparkevents' file of many tenants: the Spark
// connections they use, with credentials by reference, and each tenant's
// sync options, over defaults. It is the counterpart of sling's replication
// file or Meltano's project file:
//
//	defaults:
//	  window: 24h
//	  since: 30d          # where a tenant's first sync starts
//	connections:
//	  prod:
//	    spark_url: https://excel.prod.coherent.global
//	    client_id: env:SPARK_PROD_CLIENT_ID
//	    client_secret: file:/run/secrets/spark_prod
//	tenants:
//	  - name: acme
//	    connection: prod
//	  - name: beta
//	    connection: prod
//	    parallel: 4
//	    retention: 400d   # prune deletes older events (rollups_retention,
//	                      # runs_retention: theirs, longer)
//
// Durations and since take the grammar of the flags (internal/when): 90s,
// 15m, 36h, 30d, 2w, 1h30m; since also now, a date or an RFC 3339 time.
// Parsing is strict: an unknown or repeated key, a value of the wrong type
// and a tenant without its connection are errors, each with its line.
// Flags and their environment variables override the file (see Overrides).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"sparkevents/internal/when"
	"sparkevents/pipeline"
)

// ErrConfig marks a file that cannot be used; it is also a pipeline.ErrUsage.
var ErrConfig = errors.New("config")

// File is a parsed config file.
type File struct {
	Path        string
	private     bool // only its owner may read it: inline secrets are allowed
	defaults    options
	connections map[string]connection
	tenants     []tenant
}

// options are the sync options a tenant or the defaults may set. Each key
// is the name of the flag it stands for, with _ for -.
type options struct {
	Since      *str      `yaml:"since"`
	Window     *duration `yaml:"window"`
	Parallel   *integer  `yaml:"parallel"`
	Lookback   *duration `yaml:"lookback"`
	Settle     *duration `yaml:"settle"`
	PageSize   *integer  `yaml:"page_size"`
	ExportCap  *integer  `yaml:"export_cap"`
	Overlap    *duration `yaml:"overlap"`
	JobTimeout *duration `yaml:"job_timeout"`
	// How long the tenant keeps its data: read by prune, not by sync.
	Retention        *duration `yaml:"retention"`
	RollupsRetention *duration `yaml:"rollups_retention"`
	RunsRetention    *duration `yaml:"runs_retention"`
}

type connection struct {
	SparkURL     *str     `yaml:"spark_url"`
	TokenURL     *str     `yaml:"token_url"`
	Token        *secret  `yaml:"token"`
	ClientID     *secret  `yaml:"client_id"`
	ClientSecret *secret  `yaml:"client_secret"`
	TrustedHosts []string `yaml:"trusted_hosts"`
	line         int
}

type tenant struct {
	Name       string `yaml:"name"`
	Connection string `yaml:"connection"`
	options    `yaml:",inline"`
	line       int
}

type fileYAML struct {
	Defaults    options               `yaml:"defaults"`
	Connections map[string]connection `yaml:"connections"`
	Tenants     []tenant              `yaml:"tenants"`
}

// Read parses the file at path. It resolves no secret: that is left to
// SyncOptions, so that commands that only read the database (status, runs)
// need none.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", pipeline.ErrUsage, ErrConfig, err)
	}
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %s: %w", pipeline.ErrUsage, ErrConfig, path, err)
	}
	f.Path = path
	if fi, err := os.Stat(path); err == nil {
		f.private = fi.Mode().Perm()&0o077 == 0
	}
	return f, nil
}

func parse(data []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var y fileYAML
	if err := dec.Decode(&y); err != nil && !errors.Is(err, io.EOF) {
		return nil, readable(err)
	}
	// The struct holds no lines of its own: the tree of nodes has them.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	for i, n := range section(&root, "tenants").Content {
		if i < len(y.Tenants) {
			y.Tenants[i].line = n.Line
		}
	}
	if m := section(&root, "connections"); m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if c, ok := y.Connections[m.Content[i].Value]; ok {
				c.line = m.Content[i].Line
				y.Connections[m.Content[i].Value] = c
			}
		}
	}
	f := &File{defaults: y.Defaults, connections: y.Connections, tenants: y.Tenants}
	var errs []string
	if len(f.tenants) == 0 {
		errs = append(errs, "no tenants: list them under tenants:, each with a name and a connection")
	}
	errs = append(errs, f.defaults.positive("defaults: ")...)
	seen := map[string]int{}
	for _, t := range f.tenants {
		errs = append(errs, t.options.positive("tenant "+t.Name+": ")...)
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Sprintf("line %d: a tenant without a name", t.line))
		case seen[t.Name] > 0:
			errs = append(errs, fmt.Sprintf("line %d: tenant %s is listed twice (first on line %d)", t.line, t.Name, seen[t.Name]))
		default:
			seen[t.Name] = t.line
		}
		if _, ok := f.connections[t.Connection]; !ok {
			errs = append(errs, fmt.Sprintf("line %d: tenant %s: connection %q is not under connections: (%s)", t.line, t.Name, t.Connection, known(f.connections)))
		}
	}
	for _, name := range slices.Sorted(mapsKeys(f.connections)) {
		c := f.connections[name]
		if c.SparkURL == nil || c.SparkURL.v == "" {
			errs = append(errs, fmt.Sprintf("line %d: connection %s has no spark_url", c.line, name))
		}
		if c.Token == nil && (c.ClientID == nil || c.ClientSecret == nil) {
			errs = append(errs, fmt.Sprintf("line %d: connection %s has no credentials: give token, or client_id and client_secret (as env:NAME or file:/path)", c.line, name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return f, nil
}

// Names lists the file's tenants in its order.
func (f *File) Names() []string {
	names := make([]string, len(f.tenants))
	for i, t := range f.tenants {
		names[i] = t.Name
	}
	return names
}

// Retention is how long a tenant keeps its data, for prune: its events,
// its rollups and its runs (with their rejects). 0 is not set.
type Retention struct {
	Events, Rollups, Runs time.Duration
}

// Retention is the tenant's retention, each setting its own over the
// file's defaults; ok is false for a tenant not in the file.
func (f *File) Retention(name string) (r Retention, ok bool) {
	i := slices.IndexFunc(f.tenants, func(t tenant) bool { return t.Name == name })
	if i < 0 {
		return r, false
	}
	for _, l := range []options{f.defaults, f.tenants[i].options} {
		for _, d := range []struct {
			v   *duration
			dst *time.Duration
		}{{l.Retention, &r.Events}, {l.RollupsRetention, &r.Rollups}, {l.RunsRetention, &r.Runs}} {
			if d.v != nil {
				*d.dst = d.v.v
			}
		}
	}
	return r, true
}

// Overrides are what the command line says beside the file.
type Overrides struct {
	// Base holds every option as the flags give it, their defaults
	// included: what neither the tenant nor the file's defaults set.
	Base pipeline.SyncOptions
	// IsSet reports whether the flag of this name was given, or its
	// environment variable: it then overrides the file. nil is none.
	IsSet func(flag string) bool
	// Tenants selects tenants of the file by name; empty means all.
	Tenants []string
	Now     time.Time // the clock for since: 30d
}

// credentialFlags reach Spark on a tenant's behalf: one that overrides the
// file for several tenants at once would send one tenant's credentials to
// every other tenant's Spark.
var credentialFlags = []string{"spark-url", "token", "token-file", "client-id", "client-secret", "client-secret-file", "token-url", "trusted-host"}

// SyncOptions gives each selected tenant's options, in the file's order:
// the flags given, over the tenant's own settings, over the file's
// defaults, over the flags' defaults. Secrets are read here.
func (f *File) SyncOptions(ov Overrides) ([]pipeline.SyncOptions, error) {
	isSet := ov.IsSet
	if isSet == nil {
		isSet = func(string) bool { return false }
	}
	var selected []tenant
	for _, name := range ov.Tenants {
		i := slices.IndexFunc(f.tenants, func(t tenant) bool { return t.Name == name })
		if i < 0 {
			return nil, f.errorf("no tenant %q in the file (it has %s)", name, strings.Join(f.Names(), ", "))
		}
		selected = append(selected, f.tenants[i])
	}
	if len(ov.Tenants) == 0 {
		selected = f.tenants
	}
	if len(selected) > 1 {
		for _, fl := range credentialFlags {
			if isSet(fl) {
				return nil, f.errorf("--%s (or its environment variable, %s) is set, and would go to the Spark of each of the file's %d tenants: unset it, or pick one tenant with --tenant", fl, envOf(fl), len(selected))
			}
		}
	}
	out := make([]pipeline.SyncOptions, 0, len(selected))
	var errs []string
	for _, t := range selected {
		o, err := f.tenantOptions(t, ov, isSet)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, o)
	}
	if len(errs) > 0 {
		return nil, f.errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

func (f *File) tenantOptions(t tenant, ov Overrides, isSet func(string) bool) (pipeline.SyncOptions, error) {
	o := ov.Base
	o.Tenant = t.Name
	// The base's connection belongs to no tenant: only flags given keep it.
	c := f.connections[t.Connection]
	from := func(flag string, dst *string, s *str) {
		if !isSet(flag) {
			*dst = ""
			if s != nil {
				*dst = s.v
			}
		}
	}
	from("spark-url", &o.Spark.BaseURL, c.SparkURL)
	from("token-url", &o.Spark.TokenURL, c.TokenURL)
	if !isSet("trusted-host") {
		o.Spark.TrustedHosts = slices.Clone(c.TrustedHosts)
	}
	for _, s := range []struct {
		flag string
		dst  *string
		ref  *secret
	}{{"token", &o.Spark.Token, c.Token}, {"client-id", &o.Spark.ClientID, c.ClientID}, {"client-secret", &o.Spark.ClientSecret, c.ClientSecret}} {
		// --token-file and --client-secret-file stand for their secret.
		if isSet(s.flag) || isSet(s.flag+"-file") {
			continue
		}
		*s.dst = ""
		if s.ref == nil {
			continue
		}
		v, err := f.resolve(*s.ref, strings.ReplaceAll(s.flag, "-", "_"), s.flag == "client-id")
		if err != nil {
			return o, fmt.Errorf("connection %s (for tenant %s): %w", t.Connection, t.Name, err)
		}
		*s.dst = v
	}
	for _, layer := range []options{f.defaults, t.options} {
		if err := layer.apply(&o, isSet, ov.Now); err != nil {
			return o, fmt.Errorf("tenant %s: %w", t.Name, err)
		}
	}
	return o, nil
}

// apply sets what the layer sets, unless a flag overrides it.
func (l options) apply(o *pipeline.SyncOptions, isSet func(string) bool, now time.Time) error {
	durs := []struct {
		flag string
		v    *duration
		dst  *time.Duration
	}{{"window", l.Window, &o.Window}, {"lookback", l.Lookback, &o.Lookback}, {"settle", l.Settle, &o.Settle},
		{"overlap", l.Overlap, &o.Overlap}, {"job-timeout", l.JobTimeout, &o.Spark.JobTimeout}}
	for _, d := range durs {
		if d.v != nil && !isSet(d.flag) {
			*d.dst = d.v.v
		}
	}
	ints := []struct {
		flag string
		v    *integer
		dst  *int
	}{{"parallel", l.Parallel, &o.Parallel}, {"page-size", l.PageSize, &o.PageSize}, {"export-cap", l.ExportCap, &o.ExportCap}}
	for _, n := range ints {
		if n.v != nil && !isSet(n.flag) {
			*n.dst = n.v.v
		}
	}
	if l.Since != nil && !isSet("since") {
		// The grammar of --since (see internal/when).
		t, err := when.ParseTime(l.Since.v, now)
		if err != nil {
			return fmt.Errorf("line %d: since: %w", l.Since.line, err)
		}
		o.Since = t
	}
	return nil
}

// resolve reads a secret: env:NAME from the environment, file:PATH from a
// file (relative to the config file's folder), or the value itself, which
// only a file nobody else can read may hold. A client id is no secret and
// may always be inline.
func (f *File) resolve(s secret, key string, public bool) (string, error) {
	switch {
	case strings.HasPrefix(s.v, "env:"):
		name := strings.TrimPrefix(s.v, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("line %d: %s: environment variable %s is not set", s.line, key, name)
		}
		return v, nil
	case strings.HasPrefix(s.v, "file:"):
		p := strings.TrimPrefix(s.v, "file:")
		if !filepath.IsAbs(p) && f.Path != "" {
			p = filepath.Join(filepath.Dir(f.Path), p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			// The path is the user's own: it names no secret.
			return "", fmt.Errorf("line %d: %s: %w", s.line, key, err)
		}
		v := strings.TrimRight(string(data), "\r\n")
		if v == "" {
			return "", fmt.Errorf("line %d: %s: file %s is empty", s.line, key, p)
		}
		return v, nil
	case public || f.private:
		return s.v, nil
	}
	return "", fmt.Errorf("line %d: %s is written in the file, which others may read: give it as env:NAME or file:/run/secrets/NAME, or make the file private (chmod 600 %s)", s.line, key, f.Path)
}

func (f *File) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s: %s", pipeline.ErrUsage, ErrConfig, f.Path, fmt.Sprintf(format, args...))
}

func envOf(flag string) string {
	switch flag {
	case "spark-url":
		return "SPARK_URL"
	case "trusted-host":
		return "SPARK_TRUSTED_HOSTS"
	}
	return "SPARK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func known(m map[string]connection) string {
	if len(m) == 0 {
		return "there are none"
	}
	return "known: " + strings.Join(slices.Sorted(mapsKeys(m)), ", ")
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// notFound is yaml's message for an unknown key, naming a Go type.
var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

// readable rewrites yaml's errors in the file's words.
func readable(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = notFound.ReplaceAllString(m, `unknown key "$1"`)
		msgs[i] = strings.ReplaceAll(msgs[i], " into config.", " into ")
	}
	return errors.New(strings.Join(msgs, "; "))
}

// str, duration, integer and secret are scalars that remember their line.
type str struct {
	v    string
	line int
}

func (s *str) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n, "a string")
	}
	s.v, s.line = n.Value, n.Line
	return nil
}

type secret str

func (s *secret) UnmarshalYAML(n *yaml.Node) error { return (*str)(s).UnmarshalYAML(n) }

// duration is in the grammar of every duration flag (see internal/when):
// 90s, 15m, 36h, 30d, 2w, or a sum (1h30m). As with the flags, window and
// job_timeout must be positive, the others not negative.
type duration struct {
	v    time.Duration
	line int
}

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n, "a duration: give "+when.DurationForms)
	}
	v, err := when.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	if v < 0 {
		return typeErr(n, "a duration of 0 or more")
	}
	d.v, d.line = v, n.Line
	return nil
}

// positive refuses a zero window or job_timeout, as the flags do.
func (l options) positive(where string) []string {
	var errs []string
	for _, d := range []struct {
		key string
		v   *duration
	}{{"window", l.Window}, {"job_timeout", l.JobTimeout}} {
		if d.v != nil && d.v.v <= 0 {
			errs = append(errs, fmt.Sprintf("line %d: %s%s must be positive", d.v.line, where, d.key))
		}
	}
	return errs
}

type integer struct {
	v    int
	line int
}

func (i *integer) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return typeErr(n, "a whole number, 0 or more")
	}
	i.v, i.line = v, n.Line
	return nil
}

// section is the value of a top-level key of the document, or an empty node.
func section(root *yaml.Node, key string) *yaml.Node {
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				return root.Content[i+1]
			}
		}
	}
	return &yaml.Node{}
}

func typeErr(n *yaml.Node, want string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not %s", n.Line, n.Value, want)}}
}
