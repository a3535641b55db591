package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Defaults of the zero Config fields.
const (
	DefaultPageSize        = 100000
	DefaultMaxDownload     = 2 << 30 // 2 GiB
	DefaultMaxUnzipped     = 8 << 30 // 8 GiB
	DefaultPollInterval    = time.Second
	DefaultMaxPollInterval = 30 * time.Second
	DefaultJobTimeout      = 30 * time.Minute
	DefaultNoFileWait      = 30 * time.Second
	DefaultRetries         = 5
	DefaultMinRetryWait    = 500 * time.Millisecond
	DefaultMaxRetryWait    = 60 * time.Second
	DefaultIdleTimeout     = 2 * time.Minute
)

// Config configures a Client. BaseURL, Tenant and either Token or
// ClientID/ClientSecret are required; every other zero field takes its default.
type Config struct {
	BaseURL string // e.g. https://excel.myenv.coherent.global
	Tenant  string

	// Token is a static bearer token. Set it, or ClientID and ClientSecret.
	Token string
	// ClientID and ClientSecret authenticate with OAuth2 client credentials
	// at TokenURL; the token is cached and refreshed before it expires.
	ClientID, ClientSecret string
	// TokenURL defaults to DefaultTokenURL(BaseURL, Tenant).
	TokenURL string

	// TrustedHosts are extra hosts ("host" = any port, or "host:port") that
	// may receive the bearer token. BaseURL's host always may; any other host
	// (a pre-signed file link, say) gets no token. When BaseURL is https,
	// only https URLs get it.
	TrustedHosts []string

	// HTTPClient is used for every request, including token requests; nil
	// means a client with connect, TLS and response-header timeouts. The
	// Client works on a copy: its CheckRedirect keeps the token from
	// following a redirect to an untrusted host.
	HTTPClient *http.Client
	UserAgent  string // e.g. "sparkevents/0.1.0"

	MaxDownload int64 // bytes of one download, default 2 GiB
	MaxUnzipped int64 // total unzipped bytes of a ZIP download, default 8 GiB

	// Job polling: capped exponential backoff with jitter, from
	// PollInterval (default 1s) up to MaxPollInterval (default 30s), until
	// JobTimeout (default 30m) has passed since Wait began.
	PollInterval, MaxPollInterval time.Duration
	JobTimeout                    time.Duration
	// NoFileWait is how long Wait polls on a job that Spark calls done but
	// that lists no file, before it returns ErrNoFile (default 30s). A
	// JobTimeout no longer than it ends the wait instead, with an error
	// that wraps both ErrJobTimeout and ErrNoFile.
	NoFileWait time.Duration

	// IdleTimeout abandons a response whose body sends no byte for this
	// long (default 2m); the request is then retried like one cut short.
	IdleTimeout time.Duration

	// Retries is how many times in a row a request is retried after a
	// network error, a 408, 500, 502, 503 or 504 answer, or an answer cut
	// short or stalled (default 5; negative = none). The causes share the
	// count, which starts again after any success of the Client: a burst
	// that parallel jobs share does not fail one of them. A 429 (or a 503
	// with Retry-After) is Spark setting the pace and no failure: it is
	// waited out, by every request of the Client, until JobTimeout has
	// passed since the request was first sent.
	Retries int
	// MinRetryWait is the first retry backoff (default 500ms); it doubles
	// with every retry, and with failures across the Client. MaxRetryWait
	// (default 60s) caps every retry wait, including the server's
	// Retry-After.
	MinRetryWait, MaxRetryWait time.Duration

	// Dialect seeds the forms Submit sends where Spark's page disagrees
	// with itself, e.g. Client.Dialect of an earlier run; zero fields mean
	// the sample's forms. A 400 still makes Submit try the other form once,
	// unless FixDialect is set: then Dialect's forms are sent, and only
	// they (e.g. to force one from the command line).
	Dialect    Dialect
	FixDialect bool

	// JobLimit, when positive, is how many export jobs at once the tenant
	// is known to allow (learned by an earlier run: see Client.JobLimit);
	// a refusal lowers it further.
	JobLimit int

	// Logger receives request and retry logs; nil discards them. Tokens,
	// secrets, URL query strings (pre-signed links) and secret-looking URL
	// path segments (see redact.go) are never logged.
	Logger *slog.Logger
}

// Client talks to the Spark Events API. It is safe for concurrent use.
type Client struct {
	cfg      Config
	base     *url.URL
	hc       *http.Client
	trusted  []hostMatcher
	tokens   *tokenCache
	static   bool // static token: a 401 cannot be cured by a refresh
	log      *slog.Logger
	requests atomic.Int64
	retries  atomic.Int64 // requests sent again after a failure
	paces    atomic.Int64 // answers that asked us to slow down, waited out

	dialectMu sync.Mutex
	dialect   Dialect // Config.Dialect, updated by what Spark accepted
	jobs      jobSlots
	lim       *limiter
}

// New checks cfg, fills its defaults and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("extract: BaseURL is required (SPARK_URL)")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("extract: BaseURL %q is not an http(s) URL (SPARK_URL)", cfg.BaseURL)
	}
	base.RawQuery, base.Fragment = "", ""
	if cfg.Tenant == "" {
		return nil, errors.New("extract: Tenant is required (SPARK_TENANT)")
	}
	stripTenant(base, cfg.Tenant)
	cfg.BaseURL = base.String()
	if err := cfg.Dialect.check(); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	// A token read from a file or an env file may end in a newline, which
	// no header can carry; anything else unprintable is a wrong token.
	cfg.Token = stripBearer(cfg.Token)
	if strings.ContainsFunc(cfg.Token, unicode.IsControl) {
		return nil, errors.New("extract: the token holds a control character (check SPARK_TOKEN)")
	}
	hasCC := cfg.ClientID != "" || cfg.ClientSecret != ""
	switch {
	case cfg.Token != "" && hasCC:
		return nil, errors.New("extract: set either Token or ClientID/ClientSecret, not both")
	case cfg.Token == "" && !hasCC:
		return nil, errors.New("extract: no credentials: set Token (SPARK_TOKEN) or ClientID and ClientSecret (SPARK_CLIENT_ID/SPARK_CLIENT_SECRET)")
	case hasCC && (cfg.ClientID == "" || cfg.ClientSecret == ""):
		return nil, errors.New("extract: client credentials need both ClientID and ClientSecret")
	}
	if hasCC && cfg.TokenURL == "" {
		if cfg.TokenURL, err = DefaultTokenURL(cfg.BaseURL, cfg.Tenant); err != nil {
			return nil, fmt.Errorf("extract: %w", err)
		}
	}
	setDefault(&cfg.MaxDownload, DefaultMaxDownload)
	setDefault(&cfg.MaxUnzipped, DefaultMaxUnzipped)
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	setDefault(&cfg.MaxPollInterval, DefaultMaxPollInterval)
	setDefault(&cfg.JobTimeout, DefaultJobTimeout)
	setDefault(&cfg.NoFileWait, DefaultNoFileWait)
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.MinRetryWait, DefaultMinRetryWait)
	setDefault(&cfg.MaxRetryWait, DefaultMaxRetryWait)
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.MaxPollInterval < cfg.PollInterval {
		cfg.MaxPollInterval = cfg.PollInterval
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sparkevents-extract"
	}

	c := &Client{cfg: cfg, base: base, log: cfg.Logger, dialect: cfg.Dialect, lim: newLimiter(cfg.MinRetryWait, cfg.MaxRetryWait)}
	c.jobs.limit = max(cfg.JobLimit, 0)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.trusted = append(c.trusted, exactHost(base))
	for _, h := range cfg.TrustedHosts {
		m, err := parseHostMatcher(h)
		if err != nil {
			return nil, fmt.Errorf("extract: TrustedHosts: %w", err)
		}
		c.trusted = append(c.trusted, m)
	}
	c.hc = c.httpClient(cfg.HTTPClient)

	if cfg.Token != "" {
		c.static = true
		c.tokens = &tokenCache{fetch: func(context.Context) (*oauth2.Token, error) {
			return &oauth2.Token{AccessToken: cfg.Token, TokenType: "Bearer"}, nil
		}}
	} else {
		cc := &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.TokenURL,
			// Spark's Keycloak takes the credentials in the form body.
			AuthStyle: oauth2.AuthStyleInParams,
		}
		c.tokens = &tokenCache{fetch: func(ctx context.Context) (*oauth2.Token, error) {
			return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.hc))
		}}
	}
	return c, nil
}

// stripTenant drops a last path segment naming the tenant: Spark's UI shows
// URLs as {base}/{tenant}/..., and a base copied from one would otherwise
// send requests to /{tenant}/{tenant}/api/... (spark-python-sdk's
// BaseUrl.of accepts such a base too).
func stripTenant(base *url.URL, tenant string) {
	p := strings.TrimRight(base.Path, "/")
	i := strings.LastIndex(p, "/")
	if i >= 0 && strings.EqualFold(p[i+1:], tenant) {
		p = p[:i]
	}
	base.Path, base.RawPath = p, ""
}

// stripBearer trims a token and drops a pasted "Bearer " prefix (in any
// case), which would otherwise go out as "Bearer Bearer ...".
func stripBearer(tok string) string {
	tok = strings.TrimSpace(tok)
	if len(tok) > 7 && strings.EqualFold(tok[:6], "bearer") && (tok[6] == ' ' || tok[6] == '\t') {
		tok = strings.TrimSpace(tok[7:])
	}
	return tok
}

func setDefault[T int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// DefaultTokenURL is the Keycloak token endpoint of baseURL's environment,
// https://keycloak.{env}/auth/realms/{tenant}/protocol/openid-connect/token,
// as Spark's SDKs derive it: the first label of the host becomes
// "keycloak" (excel.uat.us.coherent.global: keycloak.uat.us.coherent.global).
// A *.coherent.global host without the "excel." label gets "keycloak."
// put before it instead (myenv.coherent.global: keycloak.myenv.coherent.global).
// An IP address, or a host of fewer than three labels, has no environment
// to derive it from: that is an error.
func DefaultTokenURL(baseURL, tenant string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("token URL: parse base URL: %w", scrubURLError(err))
	}
	fail := func(why string) error {
		return fmt.Errorf("cannot derive the token URL from %q and tenant %q: %s; set the token URL explicitly (--token-url, SPARK_TOKEN_URL)", redact(baseURL), tenant, why)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	labels := strings.Split(host, ".")
	switch {
	case tenant == "":
		return "", fail("no tenant")
	case net.ParseIP(host) != nil:
		return "", fail("the host is an IP address")
	case len(labels) < 3 || slices.Contains(labels, ""):
		return "", fail("the host has fewer than three labels, as in excel.{env}.coherent.global")
	}
	env := strings.Join(labels[1:], ".")
	if labels[0] != "excel" && strings.HasSuffix(host, ".coherent.global") {
		env = host
	}
	if env == "coherent.global" {
		return "", fail("the host names no environment, as in excel.{env}.coherent.global")
	}
	return "https://keycloak." + env + "/auth/realms/" + url.PathEscape(tenant) + "/protocol/openid-connect/token", nil
}

// Requests reports how many HTTP requests the client has sent, token
// requests and redirects included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Retries reports how many times the client has sent a request again
// after a network error, a transient answer or one cut short.
func (c *Client) Retries() int64 { return c.retries.Load() }

// RateLimited reports how many answers asked the client to slow down (a
// 429, or a 503 with Retry-After) and were waited out.
func (c *Client) RateLimited() int64 { return c.paces.Load() }

// httpClient copies hc (or builds a default) with a counting transport and a
// redirect policy that strips credentials before an untrusted host.
func (c *Client) httpClient(hc *http.Client) *http.Client {
	var cp http.Client
	if hc != nil {
		cp = *hc
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 15 * time.Second
		t.ResponseHeaderTimeout = 2 * time.Minute
		cp.Transport = t
	}
	base := cp.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = countingTransport{base: base, n: &c.requests}
	userCheck := cp.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		// net/http already drops Authorization across domains, but its idea
		// of "same domain" is not ours (subdomains, other ports).
		if !c.isTrusted(req.URL) {
			req.Header.Del("Authorization")
			req.Header.Del("X-Tenant-Name")
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}

// hostMatcher matches a URL's host: with a port, exactly; without one, any port.
type hostMatcher struct{ host, port string }

func parseHostMatcher(s string) (hostMatcher, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || strings.ContainsAny(s, "/?#@") {
		return hostMatcher{}, fmt.Errorf("%q is not a host or host:port", s)
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		return hostMatcher{host: h, port: p}, nil
	}
	return hostMatcher{host: strings.Trim(s, "[]")}, nil
}

func exactHost(u *url.URL) hostMatcher {
	return hostMatcher{host: strings.ToLower(u.Hostname()), port: portOf(u)}
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// isTrusted reports whether u may receive the token: its host is trusted
// and, when BaseURL is https, so is its scheme, since plain HTTP would show
// the token to the network.
func (c *Client) isTrusted(u *url.URL) bool {
	if strings.EqualFold(c.base.Scheme, "https") && !strings.EqualFold(u.Scheme, "https") {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), portOf(u)
	for _, m := range c.trusted {
		if m.host == host && (m.port == "" || m.port == port) {
			return true
		}
	}
	return false
}

// tokenCache holds the current access token. Unlike oauth2.ReuseTokenSource
// it can drop a token the server rejected, so that a 401 triggers a refresh.
type tokenCache struct {
	mu    sync.Mutex
	tok   *oauth2.Token
	fetch func(context.Context) (*oauth2.Token, error)
}

func (t *tokenCache) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Valid() { // Valid refuses tokens about to expire
		return t.tok.AccessToken, nil
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	t.tok = tok
	return tok.AccessToken, nil
}

// invalidate drops the cached token if it is still the rejected one, so
// concurrent requests that all saw a 401 refresh only once.
func (t *tokenCache) invalidate(rejected string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.AccessToken == rejected {
		t.tok = nil
	}
}

// call sends a request and hands its 2xx answer to read, which closes its
// body. An answer that read finds cut short (errCutAnswer: a connection
// cut, a body shorter than its Content-Length, or silence for IdleTimeout)
// is asked for again, within the budget of retries that do keeps for
// failed requests (see retryState): a status poll or a download changes
// nothing on Spark, and a submission sent twice at worst starts a
// duplicate job (see Submit). In a backfill of hundreds of jobs, one cut
// answer would otherwise fail the whole run.
func (c *Client) call(ctx context.Context, method, rawURL string, body []byte, read func(*http.Response) error) error {
	r := &retryState{start: time.Now()}
	var cut error
	for {
		resp, err := c.do(ctx, method, rawURL, body, r)
		if err == nil {
			if err = read(resp); err == nil {
				c.lim.succeeded()
				return nil
			}
		}
		switch {
		case ctx.Err() != nil && cut != nil:
			// Say why the time ran out, not only that it did.
			return fmt.Errorf("%w (the answer before was cut short: %w)", ctx.Err(), cut)
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, errCutAnswer):
			return err
		}
		wait, ok := c.failed(r)
		if !ok {
			return err
		}
		cut = err
		c.log.Warn("answer cut short, asking again", "method", method, "url", redact(rawURL), "attempt", r.sent, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (the answer before was cut short: %w)", err, cut)
		}
	}
}

// errCutAnswer marks an answer whose body broke off before its end; call
// asks for it again.
var errCutAnswer error = cutShort("answer cut short")

// cutShort is an error that is an errCutAnswer, whatever its own text.
type cutShort string

func (e cutShort) Error() string        { return string(e) }
func (e cutShort) Is(target error) bool { return target == errCutAnswer }

// do sends a request, retrying failures and answers that ask it to wait,
// and returns a 2xx response whose body the caller must close. body may be
// nil. r is the request's retry budget, which call shares for answers cut
// short. Every attempt waits its turn in the Client's limiter.
func (c *Client) do(ctx context.Context, method, rawURL string, body []byte, r *retryState) (*http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %s: not an http(s) URL", method, redact(rawURL))
	}
	trusted := c.isTrusted(u)
	reqID := uuid.NewString()
	shown := redactURL(u)
	log := c.log.With("method", method, "url", shown, "request_id", reqID)
	refreshed := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// The token is taken after the wait for a turn, which may outlast it.
		if err := c.lim.acquire(ctx); err != nil {
			return nil, err
		}
		var tok string
		if trusted {
			if tok, err = c.tokens.token(ctx); err != nil {
				c.lim.release()
				// Before it is logged: a token endpoint may echo the secret.
				err = hideSecret(err, c.cfg.ClientSecret)
				if wait, ok := c.retryToken(err, r); ok {
					log.Warn("token request failed, retrying", "failures", r.failures, "wait", wait, "err", err)
					if err := sleep(ctx, wait); err != nil {
						return nil, err
					}
					continue
				}
				return nil, c.tokenError(err)
			}
		}
		// Each attempt has its own context, which the response body's idle
		// timer cancels.
		actx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(actx, method, u.String(), nil)
		if err != nil {
			c.lim.release()
			cancel()
			return nil, fmt.Errorf("%s %s: %w", method, shown, err)
		}
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("User-Agent", c.cfg.UserAgent)
		req.Header.Set("X-Request-Id", reqID)
		if trusted {
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("X-Tenant-Name", c.cfg.Tenant)
		}

		r.sent++
		start := time.Now()
		resp, err := c.hc.Do(req)
		c.lim.release()
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			err = scrubURLError(err)
			if wait, ok := c.failed(r); ok {
				log.Warn("request failed, retrying", "attempt", r.sent, "failures", r.failures, "wait", wait, "err", err)
				if err := sleep(ctx, wait); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("%s %s: %w", method, shown, err)
		}
		log.Debug("spark request", "status", resp.StatusCode, "attempt", r.sent, "elapsed", time.Since(start))
		resp.Body = newIdleBody(resp.Body, c.cfg.IdleTimeout, cancel)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}

		snippet := readSnippet(resp.Body, tok, urlSecrets(u, resp.Request.URL))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && trusted && !c.static && !refreshed {
			// The token may have been revoked or expired early: one fresh
			// token, one more try.
			refreshed = true
			c.tokens.invalidate(tok)
			log.Info("token rejected, refreshing")
			continue
		}
		switch {
		case isJobLimit(resp.StatusCode, snippet):
			// A refusal for the tenant's job limit is Submit's to handle.
		case pacing(resp):
			if wait, ok := c.paced(r, resp.Header); ok {
				log.Debug("spark asks us to slow down, waiting", "status", resp.StatusCode, "attempt", r.sent, "wait", wait)
				continue // the limiter holds every request for wait
			}
		case retryable(resp.StatusCode):
			if wait, ok := c.failed(r); ok {
				log.Warn("transient answer, retrying", "status", resp.StatusCode, "attempt", r.sent, "failures", r.failures, "wait", wait)
				if err := sleep(ctx, wait); err != nil {
					return nil, err
				}
				continue
			}
		}
		se := &StatusError{
			Method:     method,
			URL:        shown,
			StatusCode: resp.StatusCode,
			Body:       snippet,
			Hint:       c.hint(resp.StatusCode, u.Host, trusted),
		}
		wait, _ := c.parseRetryAfter(resp.Header)
		return nil, asJobLimit(se, wait)
	}
}

// pacing reports whether resp is Spark setting the pace rather than
// failing: a 429, or a 503 that says when to come back.
func pacing(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		return resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-Retry-After") != ""
	}
	return false
}

// errStalled marks a response body that stopped arriving.
var errStalled = errors.New("stalled")

// idleBody cancels its request when no byte of the body arrives for d: a
// server that sends its headers and then nothing would otherwise hold the
// run, and with it the tenant's lock, forever. A whole download may take
// long; only silence is bounded.
type idleBody struct {
	rc     io.ReadCloser
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
	fired  atomic.Bool
}

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{rc: rc, d: d, cancel: cancel}
	b.timer = time.AfterFunc(d, func() {
		b.fired.Store(true)
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.d)
	}
	if err != nil && err != io.EOF && b.fired.Load() {
		return n, fmt.Errorf("%w: no data received for %s", errStalled, b.d)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

func retryable(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryToken reports whether a failed token fetch is worth retrying, and
// after which wait: network trouble or a 5xx/429 from the token endpoint,
// not rejected credentials. It counts as a failure of r.
func (c *Client) retryToken(err error, r *retryState) (time.Duration, bool) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response == nil || !retryable(re.Response.StatusCode) {
			return 0, false
		}
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	return c.failed(r)
}

func (c *Client) hint(code int, host string, trusted bool) string {
	switch {
	case (code == http.StatusUnauthorized || code == http.StatusForbidden) && !trusted:
		return "sent without a token to " + host + ", which is not a trusted host: a pre-signed link may have expired, or add the host to the trusted hosts if it needs the token"
	case code == http.StatusUnauthorized && c.static:
		return "token rejected: get a new token or use SPARK_CLIENT_ID/SPARK_CLIENT_SECRET"
	case code == http.StatusUnauthorized:
		return "token rejected even after a refresh: check the token / client credentials and SPARK_TENANT"
	case code == http.StatusForbidden:
		return "check SPARK_TENANT and that the user or client may use the Events API"
	case code == http.StatusNotFound:
		return "check SPARK_URL and SPARK_TENANT"
	case code == http.StatusBadRequest:
		return "check the query (dates, event types, filters)"
	case code == http.StatusTooManyRequests:
		return "still rate limited by Spark after the job timeout: try again later or with fewer concurrent jobs"
	case code >= 500:
		return "Spark is failing: try again later"
	}
	return ""
}

// parseRetryAfter reads Retry-After (seconds or an HTTP date) or Spark's
// x-retry-after (seconds), capped by MaxRetryWait.
func (c *Client) parseRetryAfter(h http.Header) (time.Duration, bool) {
	var d time.Duration
	found := false
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			d, found = time.Duration(s*float64(time.Second)), true
		} else if t, err := http.ParseTime(v); err == nil {
			d, found = max(time.Until(t), 0), true
		}
	}
	if v := strings.TrimSpace(h.Get("X-Retry-After")); !found && v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			d, found = time.Duration(s*float64(time.Second)), true
		}
	}
	if !found {
		return 0, false
	}
	return min(d, c.cfg.MaxRetryWait), true
}

func expo(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// secretHidden is an error whose text has a secret replaced; it still
// unwraps to the original, so errors.Is and errors.As see through it.
type secretHidden struct {
	msg string
	err error
}

func (e *secretHidden) Error() string { return e.msg }
func (e *secretHidden) Unwrap() error { return e.err }

// hideSecret keeps secret out of err's text: a token endpoint may echo what
// it was sent in its error description, which oauth2 puts in the error.
func hideSecret(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &secretHidden{msg: strings.ReplaceAll(err.Error(), secret, "[secret]"), err: err}
}
