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
var jobLimitText = regexp.MustCompile(`(?i)only\s+(\d+)\s+jobs?\b|\bjobs?\b.*\b(at once|at a time|concurrent)`)

// jobLimitError is an answer refusing a job because the tenant already runs
// as many as it allows. Submit waits and submits again; it is no failure.
type jobLimitError struct {
	*StatusError
	limit      int           // the jobs the tenant allows, 1 unless the answer says
	retryAfter time.Duration // the answer's Retry-After, 0 if none
}

func (e *jobLimitError) Unwrap() error { return e.StatusError }

// asJobLimit returns se as a *jobLimitError if its answer refuses a job
// for the tenant's job limit, which Spark says with a 4xx: 409 or 400, or
// a 429 that names it. retryAfter is the answer's, 0 if none.
func asJobLimit(se *StatusError, retryAfter time.Duration) error {
	switch se.StatusCode {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests:
	default:
		return se
	}
	m := jobLimitText.FindStringSubmatch(se.Body)
	if m == nil {
		return se
	}
	e := &jobLimitError{StatusError: se, limit: 1, retryAfter: retryAfter}
	if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
		e.limit = n
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
