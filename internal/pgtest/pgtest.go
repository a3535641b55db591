// Package pgtest gives tests a real, empty PostgreSQL database: on the server
// named by TEST_DATABASE_URL, or on a throwaway cluster it starts itself from
// the server binaries on the machine.
//
// A package whose tests use it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sparkevents/internal/pgcluster"
)

// server is per test binary: one cluster serves every test of a package, and
// TestMain is the only place that can stop it after the last test.
var server struct {
	once    sync.Once
	baseURL string
	cluster *pgcluster.Cluster
	err     error
}

// Main runs the tests and stops the throwaway cluster, if one was started.
func Main(m *testing.M) {
	code := m.Run()
	if server.cluster != nil {
		if err := server.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop cluster:", err)
		}
	}
	os.Exit(code)
}

func base(t testing.TB) string {
	server.once.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			server.baseURL = u
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		server.cluster, server.err = pgcluster.Start(ctx)
		if server.err == nil {
			server.baseURL = server.cluster.URL()
		}
	})
	if server.err != nil {
		// In CI a database test never skips: a missing server is a failure.
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: no database (set TEST_DATABASE_URL or install PostgreSQL): %v", server.err)
		}
		t.Skipf("pgtest: skipping database test, no TEST_DATABASE_URL and no server to start: %v", server.err)
	}
	return server.baseURL
}

// URL creates a new empty database for this test, drops it when the test
// ends, and returns its connection string.
func URL(t testing.TB) string {
	t.Helper()
	return create(t, "")
}

// ICUURL is URL for a database whose default collation is the ICU locale
// given (e.g. "en-US"), as on a server installed with a locale other than
// C, whatever the locale of the test server. It needs PostgreSQL 15 or later
// built with ICU, as Debian's is.
func ICUURL(t testing.TB, locale string) string {
	t.Helper()
	if !icuLocale.MatchString(locale) {
		t.Fatalf("pgtest: ICU locale %q: want letters, digits, - and _ only", locale)
	}
	// The libc locale stays C: only the collation is under test, and C
	// exists on every machine.
	return create(t, fmt.Sprintf("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '%s' LOCALE 'C'", locale))
}

// icuLocale keeps ICUURL's locale, spliced into CREATE DATABASE (which takes
// no parameters), to the characters of a language tag.
var icuLocale = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func create(t testing.TB, options string) string {
	t.Helper()
	b := base(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(b), err)
	}
	defer admin.Close(ctx)
	var buf [6]byte
	rand.Read(buf[:])
	name := "sparkevents_test_" + hex.EncodeToString(buf[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" "+options); err != nil {
		if options != "" && os.Getenv("CI") == "" {
			t.Skipf("pgtest: skipping, the server cannot create a database with %s: %v", options, err)
		}
		t.Fatalf("pgtest: create database %s: %v", options, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, b)
		if err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(b, name)
}

// withDatabase points a connection string, URL or keyword/value form, at db.
func withDatabase(conn, db string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return conn + " dbname=" + db
}

func redact(conn string) string {
	if u, err := url.Parse(conn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return conn
}
