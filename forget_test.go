package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"sparkevents/internal/pgtest"
	"sparkevents/internal/pseudo"
	"sparkevents/load"
)

// An import with --hmac-key-file stores pseudonyms; forget finds the
// person under hers, and erases her only with --yes.
func TestImportWithHMACKeyAndForget(t *testing.T) {
	url := pgtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "SPARKEVENTS_SCHEMA": "forget_cmd"}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "hmac.key")
	os.WriteFile(keyFile, []byte("a key of thirty-two bytes, or so\n"), 0o600)
	book := filepath.Join(dir, "events.xlsx")
	f := excelize.NewFile()
	for i, r := range [][]any{
		{"Event ID", "Timestamp", "Event Type", "User Name", "IP Address"},
		{"e1", "2026-03-01T10:00:00Z", "SparkLogin", "Ana@Example.com", "10.0.0.1"},
		{"e2", "2026-03-01T11:00:00Z", "SparkLogin", "bo@example.com", "10.0.0.2"},
	} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		f.SetSheetRow("Sheet1", cell, &r)
	}
	if err := f.SaveAs(book); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, env, "import", "--tenant", "acme", "--no-progress", "--hmac-key-file", filepath.Join(dir, "none"), book); code != exitUsage {
		t.Fatalf("import with a missing key file: exit %d:\n%s", code, out)
	}
	if code, out := run(t, map[string]string{"SPARKEVENTS_HMAC_KEY_FILE": keyFile}, "import", "--tenant", "acme", "--no-progress", book); code != exitOK {
		t.Fatalf("import: exit %d:\n%s", code, out)
	}
	ctx := context.Background()
	pool, err := load.Connect(ctx, url, "forget_cmd")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	key, _ := pseudo.ReadKey(keyFile)
	var users []string
	rows, _ := pool.Query(ctx, `SELECT user_name || ' ' || ip_address FROM spark_events ORDER BY event_id`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		users = append(users, s)
	}
	if want := pseudo.Of(key, "ana@example.com") + " " + pseudo.Of(key, "10.0.0.1"); len(users) != 2 || users[0] != want {
		t.Fatalf("stored users %q, want the first %q", users, want)
	}

	env["SPARKEVENTS_HMAC_KEY_FILE"] = ""
	code, out := run(t, env, "forget", "--user", "ana@example.com", "--pseudonymize")
	if code != exitUsage || !strings.Contains(out, "--hmac-key-file") {
		t.Fatalf("--pseudonymize without a key: exit %d:\n%s", code, out)
	}
	env["SPARKEVENTS_HMAC_KEY_FILE"] = keyFile
	code, out = run(t, env, "forget", "--user", "ANA@example.com")
	if code != exitOK || !strings.Contains(out, "dry run") || !regexpFields(out, "acme", "1", "0", "0", "0", "0", "-") {
		t.Fatalf("forget dry run: exit %d:\n%s", code, out)
	}
	code, out = run(t, env, "forget", "--user", "ANA@example.com", "--reference", "DSR-7", "--yes")
	if code != exitOK || !strings.Contains(out, "erased") {
		t.Fatalf("forget: exit %d:\n%s", code, out)
	}
	var left int
	var source string
	pool.QueryRow(ctx, `SELECT count(*) FROM spark_events`).Scan(&left)
	pool.QueryRow(ctx, `SELECT source FROM etl_runs WHERE kind = 'forget'`).Scan(&source)
	if left != 1 || source != "forget DSR-7" {
		t.Fatalf("after forget: %d events, audit source %q", left, source)
	}
}
