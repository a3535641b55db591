package analyst

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// grafanaMacros are what Grafana's PostgreSQL data source makes of the
// macros and variables the dashboard uses, for January 2026 and tenant
// acme.
func grafanaExpand(sql string) string {
	from, to := "'2026-01-01T00:00:00Z'", "'2026-02-01T00:00:00Z'"
	sql = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`).ReplaceAllString(sql, "$1 BETWEEN "+from+" AND "+to)
	return strings.NewReplacer("$__timeFrom()", from, "$__timeTo()", to, "$tenant", "acme", "${tenant}", "acme").Replace(sql)
}

// Every SQL statement of sql/grafana_dashboard.json, its panels' and its
// variables', runs on the schema and answers for the test data.
func TestGrafanaDashboardStatementsRun(t *testing.T) {
	b, err := os.ReadFile("../sql/grafana_dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct {
				RawSQL string `json:"rawSql"`
			}
		}
		Templating struct {
			List []struct {
				Name  string
				Query any
			}
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	type stmt struct{ where, sql string }
	var stmts []stmt
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			stmts = append(stmts, stmt{"panel " + p.Title, tg.RawSQL})
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			stmts = append(stmts, stmt{"variable " + v.Name, q})
		}
	}
	if len(stmts) < 7 {
		t.Fatalf("%d statements in the dashboard, want its 7 panels and a variable", len(stmts))
	}
	pool := loaded(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range stmts {
		sql := grafanaExpand(s.sql)
		if strings.TrimSpace(s.sql) == "" || strings.Contains(sql, "$") {
			t.Errorf("%s: empty, or a macro or variable the test does not expand:\n%s", s.where, sql)
			continue
		}
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", s.where, err, sql)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("%s: %v\n%s", s.where, err, sql)
			continue
		}
		if n == 0 {
			t.Errorf("%s: no rows for January 2026 of tenant acme\n%s", s.where, sql)
		}
	}
}
