package analyst

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	jan1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feb1 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
)

// hostile is an event whose values would break the page if they were not
// escaped.
var hostile = ev{"acme", day(30, "12:00"), "PublishEngine", `<img src=x onerror=alert(1)>`, "f7",
	`"><script>alert(2)</script>`, `Q&A </td><td>`, "v1", ""}

// reportData returns the dataset plus hostile, loaded, and the report of
// January 2026.
func renderReport(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool, _ := migrated(t)
	insertEvents(t, pool, append(dataset(), hostile))
	insertSyncState(t, pool)
	var buf bytes.Buffer
	if err := Report(context.Background(), pool, jan1, feb1, &buf); err != nil {
		t.Fatal(err)
	}
	return pool, buf.String()
}

// wantSegments is the number of bars the chart must draw for es: one per
// day and series, where the series are the chartSeries most frequent types
// (ties by name) and one for the rest.
func wantSegments(es []ev) int {
	totals := map[string]int{}
	for _, e := range es {
		totals[e.typ]++
	}
	var types []string
	for typ := range totals {
		types = append(types, typ)
	}
	slices.SortFunc(types, func(a, b string) int { return cmp.Or(totals[b]-totals[a], strings.Compare(a, b)) })
	series := map[string]int{}
	for i, typ := range types {
		series[typ] = min(i, chartSeries)
	}
	seen := map[string]bool{}
	for _, e := range es {
		seen[fmt.Sprint(e.at[:10], series[e.typ])] = true
	}
	return len(seen)
}

func section(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element with id %s", id)
	}
	end := strings.Index(page[i:], "</table>")
	if end < 0 {
		end = strings.Index(page[i:], "</svg>")
	}
	return page[i : i+end]
}

func TestReport(t *testing.T) {
	_, page := renderReport(t)
	es := append(dataset(), hostile)

	t.Run("self-contained", func(t *testing.T) {
		for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", "url(", "@import", "http://", "https://"} {
			if strings.Contains(page, bad) {
				t.Errorf("page contains %q", bad)
			}
		}
		// Inside tags only: escaped values may read "src=" as text.
		if m := regexp.MustCompile(`<[^>]*\s(src|href|xlink:href)=[^>]*>`).FindString(page); m != "" {
			t.Errorf("page loads a resource: %s", m)
		}
	})
	t.Run("escapes values", func(t *testing.T) {
		for _, want := range []string{
			"&lt;img src=x onerror=alert(1)&gt;",
			"&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
			"Q&amp;A &lt;/td&gt;&lt;td&gt;",
			"export job failed: &lt;timeout&gt;",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks the escaped %q", want)
			}
		}
	})
	t.Run("totals", func(t *testing.T) {
		if want := fmt.Sprintf(`id="total-events">%d<`, len(es)); !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	})
	t.Run("stacked bars", func(t *testing.T) {
		chart := section(t, page, "events-by-day")
		if got, want := strings.Count(chart, `<rect class="seg `), wantSegments(es); got != want {
			t.Errorf("%d bar segments, want %d", got, want)
		}
		for _, want := range []string{
			"<title>2026-01-20 DownloadEngine: 40</title>",
			"<title>2026-01-02 SparkLogin: 2</title>",
			`viewBox="0 0 960 320"`,
		} {
			if !strings.Contains(chart, want) {
				t.Errorf("chart lacks %s", want)
			}
		}
		if strings.Contains(chart, "2026-01-24") {
			t.Error("chart draws a bar on the 24th, a day without events")
		}
		// The tallest bar (the 20th, 41 events) fits under the axis top.
		for _, m := range regexp.MustCompile(`<rect class="seg [^"]+" x="[^"]+" y="([^"]+)"`).FindAllStringSubmatch(chart, -1) {
			var y float64
			fmt.Sscan(m[1], &y)
			if y < 12 {
				t.Errorf("bar above the plot area: y=%v", y)
			}
		}
		// 16 types: 8 with their own colour, and "other types".
		if got := strings.Count(page, `<li><svg width="12"`); got != chartSeries+1 {
			t.Errorf("%d legend entries, want %d", got, chartSeries+1)
		}
	})
	t.Run("tables", func(t *testing.T) {
		rows := func(id string) int { return strings.Count(section(t, page, id), "<tr><td>") }
		if got := rows("top-users"); got != 6 { // alice, bob, carol, dave, eve and the hostile one
			t.Errorf("%d top users, want 6", got)
		}
		if !regexp.MustCompile(`id="top-users">\s*<tr><th>.*\n<tr><td>acme</td><td>dave</td><td class="n">42</td>`).MatchString(page) {
			t.Error("dave, with 42 events, is not the top user")
		}
		if got := rows("top-services"); got != 5 { // Quote, Rates, Triage, Other and the hostile one
			t.Errorf("%d top services, want 5", got)
		}
		if got := rows("lifecycle"); got != 11 { // 10 of the dataset and the hostile publish
			t.Errorf("%d life-cycle rows, want 11", got)
		}
		sync := section(t, page, "sync-health")
		if got := rows("sync-health"); got != 3 {
			t.Errorf("%d sync health rows, want 3", got)
		}
		for _, want := range []string{`<td>acme</td>`, `<span class="status failed">failed</span>`, `<td class="n">2h 00m</td>`, `<td>gamma</td>`} {
			if !strings.Contains(sync, want) {
				t.Errorf("sync health lacks %s", want)
			}
		}
	})
}

func TestReportPeriod(t *testing.T) {
	pool := loaded(t)
	ctx := context.Background()
	var buf bytes.Buffer
	// The 20th alone: only its two types.
	if err := Report(ctx, pool, jan1.AddDate(0, 0, 19), jan1.AddDate(0, 0, 20), &buf); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), `<rect class="seg `); got != 2 {
		t.Errorf("%d bar segments for one day of two types, want 2", got)
	}
	if !strings.Contains(buf.String(), `id="total-events">41<`) {
		t.Error("the 20th does not total 41 events")
	}
	// Open ends mean the stored events' first and last day.
	buf.Reset()
	if err := Report(ctx, pool, time.Time{}, time.Time{}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "2026-01-01 09:15 UTC to 2026-01-31 09:15 UTC") {
		t.Error("an open period is not shown as the stored events' span")
	}
	if got, want := strings.Count(buf.String(), `<rect class="seg `), wantSegments(dataset()); got != want {
		t.Errorf("%d bar segments for all events, want %d", got, want)
	}

	if err := Report(ctx, pool, feb1, jan1, &buf); err == nil {
		t.Error("no error for a period that ends before it starts")
	}
}

func TestReportEmpty(t *testing.T) {
	pool, _ := migrated(t)
	var buf bytes.Buffer
	if err := Report(context.Background(), pool, jan1, feb1, &buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No events in this period.", "No loads recorded yet.", `id="total-events">0<`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("empty report lacks %q", want)
		}
	}
	if strings.Contains(buf.String(), "<rect") {
		t.Error("empty report draws bars")
	}
}

func TestNiceAxis(t *testing.T) {
	for _, tt := range []struct{ n, top, step int64 }{
		{0, 1, 1}, {1, 1, 1}, {5, 5, 1}, {6, 6, 2}, {9, 10, 2}, {11, 15, 5}, {41, 50, 10}, {2700, 3000, 1000}, {4001, 5000, 1000}, {5001, 6000, 2000},
	} {
		if top, step := niceAxis(tt.n); top != tt.top || step != tt.step {
			t.Errorf("niceAxis(%d) = %d, %d; want %d, %d", tt.n, top, step, tt.top, tt.step)
		}
	}
}

// chromium returns the Chromium binary, skipping the test when there is
// none, except in CI, where the browser check must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); CI must render the report")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// headless runs Chromium on page with args and returns its stdout and the
// console messages it logged (any, error or not: the report has no script).
func headless(t *testing.T, bin, page string, args ...string) (stdout string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
	}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, errOut.String())
	}
	for _, line := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			console = append(console, line)
		}
	}
	return out.String(), console
}

func TestReportInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()

	// The console check must be able to fail: a page with a script error
	// is caught.
	broken := filepath.Join(dir, "broken.html")
	if err := os.WriteFile(broken, []byte(`<!DOCTYPE html><p>x</p><script>console.error("boom"); null.x;</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, console := headless(t, bin, broken, "--dump-dom"); len(console) < 2 {
		t.Fatalf("console messages of a broken page not detected: %q", console)
	}

	_, page := renderReport(t)
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console := headless(t, bin, file, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
	}
	// The DOM the browser built, not our text: the chart survived parsing.
	chart := regexp.MustCompile(`(?s)<svg id="events-by-day".*?</svg>`).FindString(dom)
	if chart == "" {
		t.Fatalf("no chart svg in the rendered DOM:\n%.2000s", dom)
	}
	if got, want := strings.Count(chart, "<rect "), wantSegments(append(dataset(), hostile)); got != want {
		t.Errorf("rendered chart has %d rects, want %d", got, want)
	}
	heat := regexp.MustCompile(`(?s)<table class="heat" id="login-heatmap">.*?</table>`).FindString(dom)
	if got := strings.Count(heat, "<td "); got != 7*24 {
		t.Errorf("rendered log-in heat map has %d cells, want 168", got)
	}
	if strings.Contains(dom, "<script") || strings.Contains(dom, "<img") {
		t.Error("a value became markup in the rendered DOM")
	}

	png := filepath.Join(dir, "report.png")
	if dst := os.Getenv("REPORT_SCREENSHOT"); dst != "" {
		png, _ = filepath.Abs(dst)
	}
	_, console = headless(t, bin, file, "--screenshot="+png, "--window-size=1200,2200", "--hide-scrollbars")
	if len(console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 20_000 {
		t.Errorf("screenshot %s: %d bytes, not a PNG of a drawn page", png, len(b))
	}
	t.Logf("screenshot: %s", png)
}

func TestFormatCountAndDelta(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
	for _, tt := range []struct {
		cur, prev int64
		want      string
	}{{110, 100, "+10%"}, {50, 100, "-50%"}, {5, 0, "new"}, {0, 0, "no change"}, {100, 100, "+0%"}} {
		if got := formatDelta(tt.cur, tt.prev); got != tt.want {
			t.Errorf("formatDelta(%d, %d) = %q, want %q", tt.cur, tt.prev, got, tt.want)
		}
	}
}

// The report of one tenant: its numbers with thousands separators, the
// period before beside them, its log-in heat map, its life cycle cut to a
// screen, and its sync health only.
func TestReportOfOneTenant(t *testing.T) {
	pool, _ := migrated(t)
	ctx := context.Background()
	insertEvents(t, pool, dataset())
	insertSyncState(t, pool)
	_, err := pool.Exec(ctx, `
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, service_name, folder_name, first_run_id, last_run_id)
		SELECT 'acme', 'pub' || i, timestamptz '2026-01-10 10:00Z' + i * interval '1 minute', 'PublishEngine', 'dave', 'S' || i, 'F', 1, 1
		FROM generate_series(1, 30) i;
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, first_run_id, last_run_id)
		SELECT 'acme', 'dl' || i, timestamptz '2026-01-11 10:00Z' + i * interval '1 second', 'DownloadEngine', 'erin', 1, 1
		FROM generate_series(1, 1500) i;
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, first_run_id, last_run_id)
		SELECT 'acme', 'dec' || i, timestamptz '2025-12-20 10:00Z' + i * interval '1 second', 'DownloadEngine', 'erin', 1, 1
		FROM generate_series(1, 1200) i;`)
	if err != nil {
		t.Fatal(err)
	}
	var acme int64
	pool.QueryRow(ctx, `SELECT count(*) FROM spark_events WHERE tenant = 'acme' AND event_time >= $1 AND event_time < $2`, jan1, feb1).Scan(&acme)
	var buf bytes.Buffer
	if err := ReportTenant(ctx, pool, "acme", jan1, feb1, &buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"<h1>Spark events of tenant acme</h1>",
		fmt.Sprintf(`id="total-events">%s<`, formatCount(acme)),
		// December 2 to January 1: the 1,200 downloads of the 20th.
		`id="prev-events">1,200 the period before (` + strings.ReplaceAll(formatDelta(acme, 1200), "+", "&#43;") + `)`,
		// alice logs in at 09:15 every day: five Thursdays in January.
		`title="Thu 09:00-09:59 UTC: 5 log-ins">5</td>`,
		`title="Mon 14:00-14:59 UTC: 4 log-ins">4</td>`,
		`id="lifecycle-cut">The latest 20 of `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if acme < 1000 || !regexp.MustCompile(`id="total-events">\d,\d{3}<`).MatchString(page) {
		t.Errorf("total events %d without a thousands separator", acme)
	}
	heat := section(t, page, "login-heatmap")
	if got := len(regexp.MustCompile(`<tr><th>[A-Z]`).FindAllString(heat, -1)); got != 7 {
		t.Errorf("heat map has %d weekday rows, want 7", got)
	}
	if got := strings.Count(heat, "<td "); got != 7*24 {
		t.Errorf("heat map has %d cells, want 168", got)
	}
	if got := strings.Count(section(t, page, "lifecycle"), "<tr><td>"); got != lifecycleRows {
		t.Errorf("%d life-cycle rows, want %d", got, lifecycleRows)
	}
	for _, id := range []string{"top-users", "top-services", "lifecycle", "sync-health"} {
		if s := section(t, page, id); strings.Contains(s, "<td>beta</td>") || strings.Contains(s, "<td>gamma</td>") {
			t.Errorf("%s shows another tenant", id)
		}
	}
	if !strings.Contains(section(t, page, "sync-health"), "<td>acme</td>") {
		t.Error("sync health lacks acme")
	}
}
