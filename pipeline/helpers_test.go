package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"

	"sparkevents/extract/sparktest"
	"sparkevents/internal/pgtest"
)

func TestMain(m *testing.M) {
	// A child process for the kill tests runs here instead of the tests.
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}

var testLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestPipeline opens a migrated pipeline on a fresh database.
func newTestPipeline(t testing.TB) (*Pipeline, string) {
	t.Helper()
	url := pgtest.URL(t)
	return newTestPipelineAt(t, url), url
}

// newTestPipelineAt is newTestPipeline on the database at url.
func newTestPipelineAt(t testing.TB, url string) *Pipeline {
	t.Helper()
	ctx := context.Background()
	p, err := Open(ctx, Config{DatabaseURL: url, Schema: "sparkevents", Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

var header = []any{"Event ID", "Timestamp", "Event Type", "User Name", "Service", "Version", "Region"}

// writeWorkbook writes rows under a title row and the header, streaming.
func writeWorkbook(t testing.TB, path string, rows [][]any) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A1", []any{"Coherent Spark - User events"}); err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A3", header); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+4)
		if err := sw.SetRow(cell, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func eventRows(first, n int, t0 time.Time) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		k := first + i
		rows[i] = []any{
			fmt.Sprintf("ev-%07d", k),
			t0.Add(time.Duration(k) * time.Second).Format("2006-01-02T15:04:05.000Z"),
			[]string{"SparkLogin", "PublishEngine", "DownloadEngine"}[k%3],
			fmt.Sprintf("user%d@example.com", k%17),
			fmt.Sprintf("svc-%d", k%5),
			"1.0.0",
			"eu",
		}
	}
	return rows
}

func count(t *testing.T, p *Pipeline, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := p.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// rowVersions is every event row's key and xmin: a write of any row, even
// one that changes no value, gives it a new xmin.
func rowVersions(t *testing.T, p *Pipeline) map[string]string {
	t.Helper()
	rows, err := p.db.Query(context.Background(), "SELECT tenant || '/' || event_id, xmin::text FROM spark_events")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for rows.Next() {
		var k, x string
		if err := rows.Scan(&k, &x); err != nil {
			t.Fatal(err)
		}
		m[k] = x
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func sameVersions(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// storedIDs lists the tenant's event ids.
func storedIDs(t *testing.T, p *Pipeline, tenant string) map[string]time.Time {
	t.Helper()
	rows, err := p.db.Query(context.Background(), "SELECT event_id, event_time FROM spark_events WHERE tenant = $1", tenant)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		id string
		at time.Time
	}, error) {
		var v struct {
			id string
			at time.Time
		}
		err := r.Scan(&v.id, &v.at)
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]time.Time, len(m))
	for _, v := range m {
		out[v.id] = v.at
	}
	return out
}

func sparkEvents(first, n int, from time.Time, step time.Duration) []sparktest.Event {
	evs := make([]sparktest.Event, n)
	for i := range evs {
		k := first + i
		evs[i] = sparktest.Event{
			ID:      fmt.Sprintf("sp-%07d", k),
			Time:    from.Add(time.Duration(i) * step),
			Type:    []string{"SparkLogin", "PublishEngine", "UpdateEngine", "AddPermission"}[k%4],
			User:    fmt.Sprintf("user%d@example.com", k%11),
			Service: fmt.Sprintf("svc-%d", k%3),
			Version: "2.0.1",
		}
	}
	return evs
}

func tempPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
