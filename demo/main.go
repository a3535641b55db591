// Command demo runs sparkevents end to end on one machine: it starts the
// Spark emulator (extract/sparktest) with a generated month of events and a
// throwaway PostgreSQL (or uses DATABASE_URL), then runs the real CLI: a first
// sync, a second sync after new and late events arrive, the status, and a
// sample query.
//
//	go run ./demo
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sparkevents/extract/sparktest"
	"sparkevents/internal/pgcluster"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		fmt.Println("== starting a throwaway PostgreSQL (set DATABASE_URL to use yours)")
		c, err := pgcluster.Start(ctx)
		if err != nil {
			return err
		}
		defer c.Stop()
		dbURL = c.URL()
	}

	tmp, err := os.MkdirTemp("", "sparkevents-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "sparkevents")
	fmt.Println("== building sparkevents")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}

	now := time.Now().UTC()
	spark := sparktest.NewServer(sparktest.Options{Tenant: "demo", Token: "demo-token", PendingPolls: 2})
	defer spark.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	spark.AddEvents(generate(rng, 0, 3000, now.Add(-30*24*time.Hour), now.Add(-5*time.Minute))...)
	fmt.Printf("== Spark emulator on %s (files on %s) with 3000 events over 30 days\n", spark.URL, spark.FileURL)

	env := append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"SPARK_URL="+spark.URL,
		"SPARK_TENANT=demo",
		"SPARK_TOKEN=demo-token",
		"SPARKEVENTS_NO_PROGRESS=1",
		"SPARKEVENTS_LOG_LEVEL=warn",
	)
	cli := func(args ...string) error {
		fmt.Printf("\n$ sparkevents %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		return cmd.Run()
	}

	if err := cli("sync", "--since", "30d", "--window", "72h", "--parallel", "2"); err != nil {
		return err
	}
	// New events, and late ones: logged now but stamped inside the lookback.
	spark.AddEvents(generate(rng, 3000, 40, now.Add(-4*time.Minute), now.Add(-2*time.Minute))...)
	spark.AddEvents(generate(rng, 3040, 10, now.Add(-40*time.Minute), now.Add(-30*time.Minute))...)
	fmt.Println("\n== 40 new events and 10 late ones (inside the 1h lookback) arrived in Spark")
	if err := cli("sync"); err != nil {
		return err
	}
	if err := cli("sync"); err != nil {
		return err
	}
	if err := cli("status"); err != nil {
		return err
	}
	if err := cli("runs", "--limit", "5"); err != nil {
		return err
	}
	return cli("query", "top_services_by_publishes")
}

var (
	types    = []string{"SparkLogin", "SparkLogin", "SparkLogin", "PublishEngine", "UpdateEngine", "DownloadEngine", "ServiceActivated", "AddPermission", "EditProduct", "DeleteEngine"}
	users    = []string{"ana@example.com", "bo@example.com", "chen@example.com", "dee@example.com", "eli@example.com"}
	services = []string{"Pricing", "Underwriting", "Claims", "Quotes"}
)

func generate(rng *rand.Rand, first, n int, from, to time.Time) []sparktest.Event {
	evs := make([]sparktest.Event, n)
	span := to.Sub(from)
	for i := range evs {
		t := from.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond)
		svc := services[rng.IntN(len(services))]
		evs[i] = sparktest.Event{
			ID:       fmt.Sprintf("ev-%06d", first+i),
			Time:     t,
			Type:     types[rng.IntN(len(types))],
			User:     users[rng.IntN(len(users))],
			FolderID: "f-" + svc,
			Folder:   svc + " models",
			Service:  svc,
			Version:  fmt.Sprintf("1.%d.0", rng.IntN(5)),
			IP:       fmt.Sprintf("10.0.0.%d", rng.IntN(250)+1),
		}
	}
	return evs
}
