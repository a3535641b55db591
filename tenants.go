package main

// The file of many tenants (--config) that sync, status, runs and doctor
// read: which tenants a command covers, and each one's sync options. What
// each command does with them is in its own file.

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/internal/config"
	"sparkevents/pipeline"
)

// configFlag is the file of many tenants, for sync, status, runs and
// doctor. Like the shared flag groups of main.go, it is made anew for each
// command and app.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", EnvVars: []string{"SPARKEVENTS_CONFIG"}, Usage: "a YAML file of connections and tenants (see the README: many tenants); without --tenant, every tenant of it"}
}

// manyTenantsFlags are sync's flags for a config file and for metrics.
func manyTenantsFlags() []cli.Flag {
	return []cli.Flag{
		configFlag(),
		&cli.IntFlag{Name: "tenants-parallel", Value: 2, EnvVars: []string{"SPARKEVENTS_TENANTS_PARALLEL"}, Usage: "with --config, how many tenants sync at once"},
		&cli.StringFlag{Name: "metrics-file", EnvVars: []string{"SPARKEVENTS_METRICS_FILE"}, Usage: "write the run's metrics here, in node_exporter's textfile format (name it *.prom)"},
		&cli.StringFlag{Name: "pushgateway", EnvVars: []string{"SPARKEVENTS_PUSHGATEWAY"}, Usage: "push the run's metrics to this Prometheus Pushgateway URL, one group per tenant"},
	}
}

// readConfig reads --config, nil when none is given.
func readConfig(c *cli.Context) (*config.File, error) {
	if c.String("config") == "" {
		return nil, nil
	}
	return config.Read(c.String("config"))
}

// fileTenants are the tenants a reading command covers: --tenant if given,
// else those of --config; nil means every tenant in the database.
func fileTenants(c *cli.Context) ([]string, error) {
	if t := c.String("tenant"); t != "" {
		return []string{t}, nil
	}
	f, err := readConfig(c)
	if f == nil || err != nil {
		return nil, err
	}
	return f.Names(), nil
}

// syncTargets are the options of each tenant a sync or doctor runs: one
// from the flags, or with --config those of the file's tenants (only
// --tenant's when given), the flags given overriding the file.
func syncTargets(c *cli.Context, kind string) ([]pipeline.SyncOptions, error) {
	base, err := flagSyncOptions(c)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if kind == "sync" {
		base.Lookback, base.Settle = duration(c, "lookback"), duration(c, "settle")
		if since := timeValue(c, "since"); since != nil {
			base.Since = since.At(now)
		}
	}
	f, err := readConfig(c)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return []pipeline.SyncOptions{base}, checkTarget(base, kind, "")
	}
	var pick []string
	if base.Tenant != "" {
		pick = []string{base.Tenant}
	}
	// A variable set to nothing (SPARK_TOKEN= in an env file) sets nothing.
	// (c.Value would panic on a when.Duration or when.Time: c.String is
	// any flag's value as text.)
	isSet := func(name string) bool {
		return c.IsSet(name) && c.String(name) != ""
	}
	opts, err := f.SyncOptions(config.Overrides{Base: base, IsSet: isSet, Tenants: pick, Now: now})
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := checkTarget(o, kind, f.Path); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

func checkTarget(o pipeline.SyncOptions, kind, file string) error {
	err := checkSyncOptions(o)
	if err == nil && kind == "sync" {
		err = o.Check("sync")
	}
	if err != nil && file != "" {
		return fmt.Errorf("tenant %s of %s: %w", o.Tenant, file, err)
	}
	return err
}
