package main

import (
	"strings"
	"time"
)

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// utcPtr keeps nil as nil, for JSON's null.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// firstLine shortens an error to one line of at most about 120 bytes,
// keeping its start and its end, where the advice in parentheses is.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:50]+" ... "+s[len(s)-65:], "")
	}
	return s
}
