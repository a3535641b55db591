package analyst

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed report.html
var reportTemplate string

// Limits that keep the report readable; the query library has the rest.
const (
	chartSeries   = 8  // event types drawn in their own colour; the rest are "other types"
	topRows       = 10 // rows of the top users and top services tables
	lifecycleRows = 20 // latest life-cycle events listed: what fits one screen
	maxChartDays  = 3660
)

// Report writes one self-contained HTML page about the events of [from, to):
// events per UTC day by type (stacked bars), the top users and services, the
// latest service life-cycle events, and the sync health of every tenant. It
// has no script and loads nothing, so it opens offline; every value is
// HTML-escaped. A zero from or to means the start or end of the stored
// events. All queries read one snapshot, so the sections agree.
func Report(ctx context.Context, db *pgxpool.Pool, from, to time.Time, w io.Writer) error {
	return ReportTenant(ctx, db, "", from, to, w)
}

// ReportTenant is Report of one tenant's events ("" for every tenant's),
// with that tenant's sync health only.
func ReportTenant(ctx context.Context, db *pgxpool.Pool, tenant string, from, to time.Time, w io.Writer) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return fmt.Errorf("report: empty period: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"when":  formatTime,
		"num":   formatCount,
		"delta": formatDelta,
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("report: parse template: %w", err)
	}
	d := reportData{Generated: time.Now().UTC(), Tenant: tenant}
	err = pgx.BeginTxFunc(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		return d.load(ctx, tx, from, to)
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := tmpl.Execute(w, d); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	return nil
}

type reportData struct {
	Tenant      string    // "" for every tenant
	From, To    time.Time // the period shown: the requested one, clamped to the stored events
	Prev        previous  // the period of the same length just before, when the period is bounded
	Heat        heatMap
	Generated   time.Time
	Events      int64
	Users       int64
	Tenants     int64
	Chart       chart
	TopUsers    []userRow
	TopServices []serviceRow
	Lifecycle   []lifecycleRow
	LifecycleN  int64 // life-cycle events in the period, of which Lifecycle lists the latest
	Sync        []syncRow
}

// previous is the period of the same length before the one shown.
type previous struct {
	From, To      time.Time
	Events, Users int64
	Shown         bool
}

// heatMap is log-ins per ISO weekday (Monday first) and UTC hour.
type heatMap struct {
	Rows  []heatRow
	Total int64
}

type heatRow struct {
	Day   string
	Cells []heatCell
}

type heatCell struct {
	N     int64
	Level int // 0 (none) to 4 (the busiest fifth)
	Title string
}

type userRow struct {
	Tenant, User string
	Events, Days int64
	LastSeen     time.Time
	Logins       int64
	BarPct       float64
}

type serviceRow struct {
	Tenant, Folder, Service string
	Events, Publishes       int64
	Users                   int64
	LastEvent               time.Time
	BarPct                  float64
}

type lifecycleRow struct {
	Time                    time.Time
	Tenant, Folder, Service string
	Action, Version, User   string
}

type syncRow struct {
	Tenant            string
	Watermark         *time.Time
	Lag               string
	LastRunStatus     string
	LastRunKind       string
	LastRunStarted    *time.Time
	LastRunError      string
	LastSuccess       *time.Time
	RejectsLastDay    int64
	FailedRunsLastDay int64
}

func (d *reportData) load(ctx context.Context, tx pgx.Tx, from, to time.Time) error {
	// Timestamps bound as infinity stand for an open end, so every query has
	// the same shape and uses the event_time index.
	lo, hi := any(from), any(to)
	if from.IsZero() {
		lo = "-infinity"
	}
	if to.IsZero() {
		hi = "infinity"
	}
	// Counts over whole UTC days read the rollups, as the query library
	// does: at 10M events the whole history took 29 s from the events.
	period := splitPeriod(from, to)
	var first, last *time.Time
	err := tx.QueryRow(ctx, totalsSQL, period.args(d.Tenant)...).Scan(&d.Events, &d.Users, &d.Tenants)
	if err != nil {
		return fmt.Errorf("totals: %w", err)
	}
	if err := tx.QueryRow(ctx, boundsSQL, lo, hi, d.Tenant).Scan(&first, &last); err != nil {
		return fmt.Errorf("first and last event: %w", err)
	}
	d.From, d.To = from.UTC(), to.UTC()
	if from.IsZero() && first != nil {
		d.From = first.UTC()
	}
	if to.IsZero() && last != nil {
		d.To = last.UTC()
	}

	if first != nil {
		if err := d.loadChart(ctx, tx, period, *first, *last); err != nil {
			return err
		}
	}
	if !from.IsZero() && !to.IsZero() {
		p := &d.Prev
		p.From, p.To, p.Shown = from.Add(-to.Sub(from)).UTC(), from.UTC(), true
		var tenants int64
		err := tx.QueryRow(ctx, totalsSQL, splitPeriod(p.From, p.To).args(d.Tenant)...).Scan(&p.Events, &p.Users, &tenants)
		if err != nil {
			return fmt.Errorf("previous period: %w", err)
		}
	}
	if err := d.loadHeat(ctx, tx, period); err != nil {
		return err
	}

	rows, _ := tx.Query(ctx, topUsersSQL, period.args(d.Tenant, topRows)...)
	d.TopUsers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (u userRow, err error) {
		err = r.Scan(&u.Tenant, &u.User, &u.Events, &u.Days, &u.LastSeen, &u.Logins)
		return u, err
	})
	if err != nil {
		return fmt.Errorf("top users: %w", err)
	}
	for i := range d.TopUsers {
		d.TopUsers[i].BarPct = 100 * float64(d.TopUsers[i].Events) / float64(d.TopUsers[0].Events)
	}

	rows, _ = tx.Query(ctx, topServicesSQL, lo, hi, topRows, d.Tenant)
	d.TopServices, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (s serviceRow, err error) {
		err = r.Scan(&s.Tenant, &s.Folder, &s.Service, &s.Events, &s.Publishes, &s.Users, &s.LastEvent)
		return s, err
	})
	if err != nil {
		return fmt.Errorf("top services: %w", err)
	}
	for i := range d.TopServices {
		d.TopServices[i].BarPct = 100 * float64(d.TopServices[i].Events) / float64(d.TopServices[0].Events)
	}

	err = tx.QueryRow(ctx, `
		SELECT count(*) FROM service_lifecycle
		WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND ($3 = '' OR tenant = $3)`, lo, hi, d.Tenant).Scan(&d.LifecycleN)
	if err != nil {
		return fmt.Errorf("service life cycle: %w", err)
	}
	rows, _ = tx.Query(ctx, `
		SELECT event_time, tenant, coalesce(folder_name, ''), coalesce(service_name, ''), action,
		       coalesce(service_version, ''), coalesce(user_name, '')
		FROM service_lifecycle
		WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND ($4 = '' OR tenant = $4)
		ORDER BY event_time DESC, tenant, event_id
		LIMIT $3`, lo, hi, lifecycleRows, d.Tenant)
	d.Lifecycle, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (l lifecycleRow, err error) {
		err = r.Scan(&l.Time, &l.Tenant, &l.Folder, &l.Service, &l.Action, &l.Version, &l.User)
		return l, err
	})
	if err != nil {
		return fmt.Errorf("service life cycle: %w", err)
	}

	rows, _ = tx.Query(ctx, `
		SELECT tenant, watermark, lag_seconds, coalesce(last_run_status, ''), coalesce(last_run_kind, ''),
		       last_run_started_at, coalesce(last_run_error, ''), last_success_at,
		       rejects_last_day, failed_runs_last_day
		FROM sync_health
		WHERE $1 = '' OR tenant = $1
		ORDER BY tenant`, d.Tenant)
	d.Sync, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (s syncRow, err error) {
		var lag *float64
		err = r.Scan(&s.Tenant, &s.Watermark, &lag, &s.LastRunStatus, &s.LastRunKind,
			&s.LastRunStarted, &s.LastRunError, &s.LastSuccess, &s.RejectsLastDay, &s.FailedRunsLastDay)
		if lag != nil {
			s.Lag = formatLag(time.Duration(*lag * float64(time.Second)))
		}
		return s, err
	})
	if err != nil {
		return fmt.Errorf("sync health: %w", err)
	}
	return nil
}

// chart is the stacked bar chart of events per day by type, laid out in SVG
// user units so the template only prints numbers.
type chart struct {
	Width, Height float64
	Left, Top     float64 // plot area origin
	PlotW, PlotH  float64
	Right, Bottom float64 // plot area end
	YLabelX       float64
	Days          int
	Max           int64 // the y axis top
	Bars          []segment
	Legend        []legendItem
	YTicks        []tick
	XTicks        []tick
}

type segment struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type legendItem struct {
	Class, Label string
	Events       int64
}

type tick struct {
	Pos   float64
	Label string
}

func (d *reportData) loadChart(ctx context.Context, tx pgx.Tx, period split, first, last time.Time) error {
	rows, _ := tx.Query(ctx, perDaySQL, period.args(d.Tenant)...)
	type cell struct {
		day   time.Time
		typ   string
		count int64
	}
	cells, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (c cell, err error) {
		err = r.Scan(&c.day, &c.typ, &c.count)
		return c, err
	})
	if err != nil {
		return fmt.Errorf("events per day: %w", err)
	}
	day0 := utcDay(first)
	days := int(utcDay(last).Sub(day0)/(24*time.Hour)) + 1
	if days > maxChartDays {
		return fmt.Errorf("events per day: %d days is too long a period for a daily chart (at most %d)", days, maxChartDays)
	}

	// The most frequent types get their own colour, the rest share one.
	totals := map[string]int64{}
	for _, c := range cells {
		totals[c.typ] += c.count
	}
	types := make([]string, 0, len(totals))
	for t := range totals {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int {
		return cmp.Or(cmp.Compare(totals[b], totals[a]), strings.Compare(a, b))
	})
	series := map[string]int{}
	ch := &d.Chart
	for i, t := range types {
		if i < chartSeries {
			series[t] = i
			ch.Legend = append(ch.Legend, legendItem{Class: fmt.Sprintf("s%d", i), Label: t, Events: totals[t]})
			continue
		}
		series[t] = chartSeries
		if i == chartSeries {
			ch.Legend = append(ch.Legend, legendItem{Class: fmt.Sprintf("s%d", chartSeries), Label: "other types"})
		}
		ch.Legend[chartSeries].Events += totals[t]
	}
	nseries := len(ch.Legend)
	counts := make([][]int64, days) // [day][series]
	for i := range counts {
		counts[i] = make([]int64, nseries)
	}
	var peak int64
	dayTotals := make([]int64, days)
	for _, c := range cells {
		i := int(c.day.Sub(day0) / (24 * time.Hour))
		counts[i][series[c.typ]] += c.count
		dayTotals[i] += c.count
		peak = max(peak, dayTotals[i])
	}

	ch.Width, ch.Height = 960, 320
	ch.Left, ch.Top = 56, 12
	ch.PlotW, ch.PlotH = ch.Width-ch.Left-12, ch.Height-ch.Top-40
	ch.Right, ch.Bottom = ch.Left+ch.PlotW, ch.Top+ch.PlotH
	ch.YLabelX = ch.Left - 6
	ch.Days = days
	var ystep int64
	ch.Max, ystep = niceAxis(peak)
	for v := int64(0); v <= ch.Max; v += ystep {
		ch.YTicks = append(ch.YTicks, tick{Pos: ch.Top + ch.PlotH - ch.PlotH*float64(v)/float64(ch.Max), Label: formatCount(v)})
	}
	slot := ch.PlotW / float64(days)
	gap := math.Min(2, slot*0.2)
	step := max(1, int(math.Ceil(float64(days)/10)))
	for i := 0; i < days; i += step {
		ch.XTicks = append(ch.XTicks, tick{Pos: ch.Left + slot*(float64(i)+0.5), Label: day0.AddDate(0, 0, i).Format("Jan 2")})
	}
	for i, byType := range counts {
		x := ch.Left + slot*float64(i) + gap/2
		y := ch.Top + ch.PlotH
		date := day0.AddDate(0, 0, i).Format("2006-01-02")
		for s, n := range byType {
			if n == 0 {
				continue
			}
			h := ch.PlotH * float64(n) / float64(ch.Max)
			y -= h
			ch.Bars = append(ch.Bars, segment{
				X: round2(x), Y: round2(y), W: round2(slot - gap), H: round2(h),
				Class: ch.Legend[s].Class,
				Title: fmt.Sprintf("%s %s: %s", date, ch.Legend[s].Label, formatCount(n)),
			})
		}
	}
	return nil
}

// loadHeat counts the period's log-ins (SparkLogin, CALogin) per ISO
// weekday and UTC hour, as sql/logins_by_hour_and_weekday.sql does.
func (d *reportData) loadHeat(ctx context.Context, tx pgx.Tx, period split) error {
	rows, _ := tx.Query(ctx, loginHoursSQL, period.args(d.Tenant)...)
	var counts [7][24]int64
	var wd, hour int
	var n, peak int64
	_, err := pgx.ForEachRow(rows, []any{&wd, &hour, &n}, func() error {
		counts[wd-1][hour] = n
		peak = max(peak, n)
		d.Heat.Total += n
		return nil
	})
	if err != nil {
		return fmt.Errorf("log-ins by weekday and hour: %w", err)
	}
	if d.Heat.Total == 0 {
		return nil
	}
	for i, day := range []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"} {
		r := heatRow{Day: day}
		for h, n := range counts[i] {
			level := 0
			if n > 0 {
				level = 1 + int(min(3, 4*n/(peak+1)))
			}
			r.Cells = append(r.Cells, heatCell{N: n, Level: level, Title: fmt.Sprintf("%s %02d:00-%02d:59 UTC: %s log-ins", day, h, h, formatCount(n))})
		}
		d.Heat.Rows = append(d.Heat.Rows, r)
	}
	return nil
}

// formatCount writes n with a comma between thousands: 1,234,567.
func formatCount(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatDelta is the change from prev to cur in percent, signed: "+12%",
// "-3%", "new" when prev is 0.
func formatDelta(cur, prev int64) string {
	switch {
	case prev == 0 && cur == 0:
		return "no change"
	case prev == 0:
		return "new"
	}
	pct := math.Round(100 * float64(cur-prev) / float64(prev))
	if pct >= 0 {
		return fmt.Sprintf("+%.0f%%", pct)
	}
	return fmt.Sprintf("%.0f%%", pct)
}

// niceAxis returns the top of a y axis showing n and the step between its
// ticks: a round step (1, 2 or 5 times a power of ten) and at most five
// ticks above zero.
func niceAxis(n int64) (top, step int64) {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			step = m * p
			if ticks := max(1, (n+step-1)/step); ticks <= 5 {
				return ticks * step, step
			}
		}
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// formatTime prints a time in UTC to the minute, or nothing for a nil or
// zero time.
func formatTime(v any) string {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case *time.Time:
		if v == nil {
			return ""
		}
		t = *v
	}
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func formatLag(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh %02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		s = fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	if neg {
		return "-" + s
	}
	return s
}
