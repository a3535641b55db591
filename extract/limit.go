package extract

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// jobLimitText matches Spark's refusal of a job beyond the tenant's limit,
// "Only 1 job can be executed at once"; the number, when given, is the limit.
var jobLimitText = regexp.MustCompile(`(?i)only\s+(\d+)\s+jobs?\b|\bjobs?\b.*\b(at once|at a time|concurrent)|\bconcurrent\s+(export\s+)?jobs?\b`)

// jobLimitError is an answer refusing a job because the tenant already runs
// as many as it allows. Submit waits and submits again; it is no failure.
type jobLimitError struct {
	*StatusError
	limit      int           // the jobs the tenant allows, 1 unless the answer says
	retryAfter time.Duration // the answer's Retry-After, 0 if none
}

func (e *jobLimitError) Unwrap() error { return e.StatusError }

// isJobLimit reports whether an answer refuses a job for the tenant's job
// limit, which Spark says with a 4xx: 409 or 400, or a 429 that names it.
func isJobLimit(code int, body string) bool {
	switch code {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests:
		return jobLimitText.MatchString(body)
	}
	return false
}

// asJobLimit returns se as a *jobLimitError if it refuses a job for the
// tenant's job limit. retryAfter is the answer's, 0 if none.
func asJobLimit(se *StatusError, retryAfter time.Duration) error {
	if !isJobLimit(se.StatusCode, se.Body) {
		return se
	}
	e := &jobLimitError{StatusError: se, limit: 1, retryAfter: retryAfter}
	if m := jobLimitText.FindStringSubmatch(se.Body); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			e.limit = n
		}
	}
	return e
}

// jobSlots admits export jobs: any number until Spark refuses one for the
// tenant's job limit, then at most that many for the rest of the Client's
// life. A job holds its slot from Submit until Job.Release.
type jobSlots struct {
	mu     sync.Mutex
	limit  int // 0: no limit known
	held   int
	freed  chan struct{} // closed, and replaced, when a slot is given back
	logged bool
}

// acquire takes a slot, waiting for one if the limit is reached. waited
// reports whether it had to: another job of ours ended meanwhile.
func (s *jobSlots) acquire(ctx context.Context) (sl *jobSlot, waited bool, err error) {
	for {
		s.mu.Lock()
		if s.limit == 0 || s.held < s.limit {
			s.held++
			s.mu.Unlock()
			return &jobSlot{s: s}, waited, nil
		}
		if s.freed == nil {
			s.freed = make(chan struct{})
		}
		freed := s.freed
		s.mu.Unlock()
		waited = true
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, waited, ctx.Err()
		}
	}
}

func (s *jobSlots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// limitTo lowers the limit to n jobs at once, and says so the first time.
func (s *jobSlots) limitTo(n int, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == 0 || n < s.limit {
		s.limit = n
	}
	if !s.logged {
		s.logged = true
		msg := "the tenant allows one export job at a time: jobs run one after another from now on"
		if s.limit > 1 {
			msg = fmt.Sprintf("the tenant allows %d export jobs at a time: no more run at once from now on", s.limit)
		}
		log.Info(msg, "limit", s.limit)
	}
}

// jobSlot is the slot of one job, given back once.
type jobSlot struct {
	once sync.Once
	s    *jobSlots
}

func (sl *jobSlot) release() {
	if sl != nil {
		sl.once.Do(sl.s.release)
	}
}

// maxInFlight caps the requests a Client has in flight at once, and is
// where its limit starts: well above the jobs a run keeps in parallel.
const maxInFlight = 16

// limiter paces the requests of one Client, which the parallel jobs of a
// run share, so that they back off together. Answers asking us to slow
// down (429s, 5xx, network errors) halve how many requests may be in
// flight and lengthen a shared wait; each success adds 1/limit to the
// limit and halves the wait (AIMD). A Retry-After pauses every request.
// Written by hand: golang.org/x/time/rate paces a rate of requests, while
// Spark asks for fewer requests at once and for pauses.
type limiter struct {
	mu         sync.Mutex
	limit      float64 // requests allowed in flight, in [1, maxInFlight]
	inFlight   int
	pauseUntil time.Time     // no request starts before: Spark's Retry-After
	penalty    time.Duration // the shared wait: 0, or minWait up to maxWait
	successes  uint64        // requests answered whole, ever
	changed    chan struct{} // closed, and replaced, when a request may start

	minWait, maxWait time.Duration
}

func newLimiter(minWait, maxWait time.Duration) *limiter {
	return &limiter{limit: maxInFlight, minWait: minWait, maxWait: maxWait}
}

// acquire waits until a request may be sent: the pause is over and fewer
// than limit are in flight. The caller calls release once it has the
// answer's headers; the body is read outside the limit.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		pause := time.Until(l.pauseUntil)
		if pause <= 0 && float64(l.inFlight) < l.limit {
			l.inFlight++
			l.mu.Unlock()
			return nil
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if pause > 0 {
			timer = time.NewTimer(pause)
			expired = timer.C
		}
		select {
		case <-changed:
		case <-expired:
		case <-ctx.Done():
			return ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	l.notifyLocked()
}

func (l *limiter) notifyLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// succeeded records a request answered whole: additive increase.
func (l *limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.successes++
	l.limit = min(l.limit+1/l.limit, maxInFlight)
	if l.penalty /= 2; l.penalty < l.minWait {
		l.penalty = 0
	}
	l.notifyLocked()
}

// congested records an answer asking us to slow down: multiplicative
// decrease. It returns the shared wait, now longer.
func (l *limiter) congested() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = max(l.limit/2, 1)
	l.penalty = min(max(2*l.penalty, l.minWait), l.maxWait)
	return l.penalty
}

// pause holds every request back for d, as Spark's Retry-After asks.
func (l *limiter) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := time.Now().Add(d); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
}

func (l *limiter) successCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.successes
}

// retryState is the retry budget of one request. Failures (5xx, network
// errors, answers cut short) count in a row, from zero again after any
// success of the Client, so that a burst its parallel jobs share cannot
// spend one job's Retries; Spark's asking us to wait (429) is no failure.
// Either way a request stops retrying once JobTimeout has passed since it
// was first sent.
type retryState struct {
	start    time.Time
	failures int    // in a row, with no success of the Client between
	seen     uint64 // the Client's successes at the last failure
	sent     int    // attempts, for the logs
}

// failed counts a failure of r and returns the wait before its next
// attempt, or false when r must give up.
func (c *Client) failed(r *retryState) (time.Duration, bool) {
	n := c.lim.successCount()
	if n != r.seen {
		r.failures = 0
	}
	r.seen = n
	r.failures++
	penalty := c.lim.congested()
	if r.failures > c.cfg.Retries {
		return 0, false
	}
	wait := jitter(max(expo(c.cfg.MinRetryWait, c.cfg.MaxRetryWait, r.failures-1), penalty))
	if !c.inTime(r, wait) {
		return 0, false
	}
	c.retries.Add(1)
	return wait, true
}

// paced returns the wait Spark asked for in h (or, if it named none, the
// shared one), pausing every request of the Client for it, or false when
// r must give up.
func (c *Client) paced(r *retryState, h http.Header) (time.Duration, bool) {
	penalty := c.lim.congested()
	wait, ok := c.parseRetryAfter(h)
	if !ok {
		wait = jitter(penalty)
	}
	// A Retry-After of 0 would have us ask again at once, and again.
	wait = max(wait, c.cfg.MinRetryWait)
	if !c.inTime(r, wait) {
		return 0, false
	}
	c.lim.pause(wait)
	c.paces.Add(1)
	return wait, true
}

// inTime reports whether r may still be sent after wait.
func (c *Client) inTime(r *retryState, wait time.Duration) bool {
	return time.Since(r.start)+wait <= c.cfg.JobTimeout
}

// JobLimit is how many export jobs at once Spark allows the tenant, as
// Config.JobLimit said or a refusal taught; 0 when no limit is known.
func (c *Client) JobLimit() int {
	c.jobs.mu.Lock()
	defer c.jobs.mu.Unlock()
	return c.jobs.limit
}
