package extract_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"sparkevents/extract"
	"sparkevents/extract/sparktest"
)

// A job refused for the tenant's job limit waits until the running job is
// released, then goes in; the Client runs one job at a time from then on.
func TestSubmitWaitsForTheJobLimit(t *testing.T) {
	srv := newServer(t, sparktest.Options{JobLimit: 1})
	var logs bytes.Buffer
	cfg := fastConfig(srv)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c := newClient(t, cfg)
	first, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		job, err := c.Submit(t.Context(), extract.Query{})
		if err == nil {
			_, err = c.Wait(t.Context(), job)
			job.Release()
		}
		second <- err
	}()
	// Refused once, the second job waits for the first to be released, and
	// Spark sees no further submission meanwhile.
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-second:
		t.Fatalf("second job returned %v before the first was released", err)
	default:
	}
	if st := srv.Stats(); st.JobsRefused != 1 || st.Jobs != 1 {
		t.Fatalf("stats = %+v, want 1 job and 1 refused", st)
	}
	if _, err := c.Wait(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	first.Release()
	first.Release() // a second release gives nothing back
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Jobs != 2 || st.MaxUnfinished != 1 {
		t.Errorf("stats = %+v, want 2 jobs, never two unfinished", st)
	}
	if n := strings.Count(logs.String(), "allows one export job at a time"); n != 1 {
		t.Errorf("the job limit was logged %d times, want once:\n%s", n, logs.String())
	}
	extract.Job{}.Release() // a Job built by hand holds no slot
}

// A job of another program holds the tenant: Submit gives up after the
// job timeout, saying why.
func TestSubmitRefusedUntilTheJobTimeout(t *testing.T) {
	srv := newServer(t, sparktest.Options{JobLimit: 1})
	other := newClient(t, fastConfig(srv))
	if _, err := other.Submit(t.Context(), extract.Query{}); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(srv)
	cfg.JobTimeout = 300 * time.Millisecond
	c := newClient(t, cfg)
	start := time.Now()
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict || !strings.Contains(err.Error(), "--job-timeout") {
		t.Fatalf("err = %v, want the 409 after the job timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %s, want about the job timeout of 300ms", d)
	}
	if st := srv.Stats(); st.JobsRefused < 3 {
		t.Errorf("refused %d times, want Submit to have tried again", st.JobsRefused)
	}
}
