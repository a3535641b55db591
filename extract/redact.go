package extract

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// Links Spark hands out may carry credentials: pre-signed query strings
// (?sig=...), and path segments, as entitystore's
// /docstore/api/v1/documents/versions/tokens/{secret}/{file}. Every URL
// that goes into a log line or an error passes through redact first.

const redacted = "[redacted]"

const maxErrorBody = 512

// readSnippet returns the start of an error answer, at most maxErrorBody
// bytes, with tok (the request's token), secrets (its URL's credentials)
// and the credentials of any link in it hidden: an error page may quote
// the Authorization header or the path asked for. It reads the longest
// secret's length further than it keeps, so that one that starts before
// the cut is hidden whole.
func readSnippet(r io.Reader, tok string, secrets []string) string {
	longest := len(tok)
	for _, s := range secrets {
		longest = max(longest, len(s))
	}
	b, _ := io.ReadAll(io.LimitReader(r, int64(maxErrorBody+longest)))
	s := string(b)
	if tok != "" {
		s = strings.ReplaceAll(s, tok, "[token]")
	}
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	s = redactText(s)
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody]
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "?"))
}

// urlSecrets returns the credentials the URLs carry: their secret path
// segments and query values, for readSnippet to hide where an answer
// quotes them outside a URL.
func urlSecrets(us ...*url.URL) []string {
	var out []string
	for _, u := range us {
		if u == nil {
			continue
		}
		segs := strings.Split(u.Path, "/")
		for i, seg := range segs {
			if secretSegment(segs, i) {
				out = append(out, seg)
			}
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 8 { // shorter values are flags, not credentials, and too common to replace
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// redact drops the query, fragment and userinfo of a URL and hides its
// secret path segments, keeping its host and file name.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i]
		}
		return redactPath(raw)
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	cp := *u
	cp.RawQuery, cp.Fragment, cp.User = "", "", nil
	cp.Path, cp.RawPath = redactPath(cp.Path), ""
	return strings.Replace(cp.String(), url.PathEscape(redacted), redacted, -1)
}

// redactPath hides the secret segments of a URL path.
func redactPath(p string) string {
	segs := strings.Split(p, "/")
	for i := range segs {
		if secretSegment(segs, i) {
			segs[i] = redacted
		}
	}
	return strings.Join(segs, "/")
}

// secretSegment reports whether segs[i] may be a credential. Rule, erring
// on the safe side: the segment after "tokens" or "token"; a JWT; or any
// segment of 24+ base64/hex characters without a dot that has a digit or
// mixes cases, UUIDs (job ids) excepted. File names keep their dot and
// stay readable; an extensionless one with digits is hidden too.
func secretSegment(segs []string, i int) bool {
	seg := segs[i]
	switch {
	case seg == "":
		return false
	case i > 0 && (strings.EqualFold(segs[i-1], "tokens") || strings.EqualFold(segs[i-1], "token")):
		return true
	case strings.HasPrefix(seg, "eyJ") && strings.Count(seg, ".") == 2:
		return true
	}
	return opaque(seg)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func opaque(seg string) bool {
	if len(seg) < 24 || uuidRE.MatchString(seg) {
		return false
	}
	var upper, lower, digit bool
	for _, r := range seg {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune("-_~=+%", r):
		default:
			return false // a dot (file name), a space: not a token
		}
	}
	return digit || upper && lower
}

// urlInText finds http(s) URLs in free text, up to a space or a quote.
var urlInText = regexp.MustCompile(`https?://[^\s"'<>\\]+`)

// redactText redacts every URL in s: error bodies and answers that are not
// the expected JSON may quote links.
func redactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, redact)
}

// scrubURLError rewrites the URL inside a *url.Error, which would otherwise
// print a pre-signed link's query string or secret path.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redact(ue.URL), ue.Err)
	}
	return err
}
