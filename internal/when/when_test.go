package when

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"15m", 15 * time.Minute, true},
		{"36h", 36 * time.Hour, true},
		{"30d", 30 * Day, true},
		{"2w", 2 * Week, true},
		{"1d", Day, true},
		{"1w2d", 9 * Day, true},
		{"1h30m", 90 * time.Minute, true},
		{"1.5h", 90 * time.Minute, true},
		{"0.5d", 12 * time.Hour, true},
		{"500ms", 500 * time.Millisecond, true},
		{" 2w ", 2 * Week, true},
		{"0", 0, true},
		{"-1h", -time.Hour, true},
		{"-1d", -Day, true},
		{"90", 0, false},
		{"", 0, false},
		{"1y", 0, false},
		{"d", 0, false},
		{"1dd", 0, false},
		{"yesterday", 0, false},
		{"99999999w", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if !tt.ok {
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "30d or 2w") {
				t.Errorf("ParseDuration(%q) = %v, %v; want an error listing the forms", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Minute: "1m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		30 * time.Minute: "30m", Day: "1d", 36 * time.Hour: "36h0m0s", Week: "1w", 30 * Day: "30d", -Day: "-1d",
	} {
		got := FormatDuration(d)
		if d == 36*time.Hour {
			want = "36h"
		}
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"now", now, true},
		{"NOW", now, true},
		{"2026-03-02", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), true},
		{"2026-03-02T15:08:00.250Z", time.Date(2026, 3, 2, 15, 8, 0, 250e6, time.UTC), true},
		{"2026-03-02T17:08:00+02:00", time.Date(2026, 3, 2, 15, 8, 0, 0, time.UTC), true},
		{"2026-03-02 15:08:00", time.Date(2026, 3, 2, 15, 8, 0, 0, time.UTC), true},
		{"2026-03-02 15:08", time.Date(2026, 3, 2, 15, 8, 0, 0, time.UTC), true},
		{"720h", now.Add(-720 * time.Hour), true},
		{"30d", now.Add(-30 * Day), true},
		{"2w", now.Add(-2 * Week), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"0s", now, true},
		{"yesterday", time.Time{}, false},
		{"-5h", time.Time{}, false},
		{"+5h", time.Time{}, false},
		{"2026-13-01", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if !tt.ok {
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "a date (2026-01-01)") {
				t.Errorf("ParseTime(%q) = %v, %v; want an error listing the forms", tt.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFlagValuesShowTheirDefaultsAsWritten(t *testing.T) {
	if got := NewTime("now").String(); got != "now" {
		t.Errorf("NewTime(now).String() = %q", got)
	}
	if got := NewDuration(Day).String(); got != "1d" {
		t.Errorf("NewDuration(Day).String() = %q", got)
	}
	v := NewTime("now")
	if err := v.Set("1w"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if got := v.At(now); !got.Equal(now.Add(-Week)) {
		t.Errorf("1w at now = %v, want %v", got, now.Add(-Week))
	}
	if err := v.Set("soon"); err == nil || v.String() != "1w" {
		t.Errorf("a bad Set changed the value to %q or did not fail: %v", v, err)
	}
}
