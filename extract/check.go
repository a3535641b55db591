package extract

import (
	"context"
	"fmt"
)

// Redact returns rawURL as it may be shown: without its query, fragment,
// user info or secret path segments.
func Redact(rawURL string) string { return redact(rawURL) }

// TokenSource says where the client's bearer token comes from: "static" or
// the token URL of its client credentials.
func (c *Client) TokenSource() string {
	if c.static {
		return "static"
	}
	return redact(c.cfg.TokenURL)
}

// CheckToken gets a token, as the first request would. A static token
// cannot be checked without a request to Spark, so it only passes; client
// credentials are sent to the token URL.
func (c *Client) CheckToken(ctx context.Context) error {
	if _, err := c.tokens.token(ctx); err != nil {
		return c.tokenError(err)
	}
	return nil
}

// tokenError says which token URL refused or failed, with the client
// secret hidden: a token endpoint may echo it, and scrubURLError may
// rebuild the text, so it is hidden before and after.
func (c *Client) tokenError(err error) error {
	err = fmt.Errorf("get token from %s: %w (check SPARK_CLIENT_ID/SPARK_CLIENT_SECRET and the token URL)", redact(c.cfg.TokenURL), scrubURLError(hideSecret(err, c.cfg.ClientSecret)))
	return hideSecret(err, c.cfg.ClientSecret)
}
