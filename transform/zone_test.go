package transform

import (
	"strings"
	"testing"
	"time"
)

func TestParseZone(t *testing.T) {
	const h, m = 3600, 60
	tests := []struct {
		in string
		// Offsets in January and July, east of UTC, in seconds.
		jan, jul int
		wantErr  string // in the error; "" for none
	}{
		{in: "UTC"},
		{in: "Z"},
		{in: "z"},
		{in: "+00:00"},
		{in: "-0000"},
		{in: "GMT+0"},
		{in: "Europe/London", jul: 1 * h},
		{in: "America/New_York", jan: -5 * h, jul: -4 * h},
		{in: "Asia/Kolkata", jan: 5*h + 30*m, jul: 5*h + 30*m},
		// The tz database's Etc names keep POSIX's inverted sign.
		{in: "Etc/GMT+8", jan: -8 * h, jul: -8 * h},
		{in: "+08:00", jan: 8 * h, jul: 8 * h},
		{in: " +08:00 ", jan: 8 * h, jul: 8 * h},
		{in: "+0800", jan: 8 * h, jul: 8 * h},
		{in: "+08", jan: 8 * h, jul: 8 * h},
		{in: "+8", jan: 8 * h, jul: 8 * h},
		{in: "+8:00", jan: 8 * h, jul: 8 * h},
		{in: "-0530", jan: -5*h - 30*m, jul: -5*h - 30*m},
		{in: "-05:30", jan: -5*h - 30*m, jul: -5*h - 30*m},
		{in: "+05:45", jan: 5*h + 45*m, jul: 5*h + 45*m},
		{in: "+14:00", jan: 14 * h, jul: 14 * h},
		{in: "-12:00", jan: -12 * h, jul: -12 * h},
		// UTC+8 is eight hours east, as Spark and people write it.
		{in: "UTC+8", jan: 8 * h, jul: 8 * h},
		{in: "utc+08:00", jan: 8 * h, jul: 8 * h},
		{in: "UTC -5", jan: -5 * h, jul: -5 * h},
		{in: "GMT-05:30", jan: -5*h - 30*m, jul: -5*h - 30*m},

		{in: "+25:00", wantErr: "beyond 14 hours"},
		{in: "+14:30", wantErr: "beyond 14 hours"},
		{in: "+08:60", wantErr: "beyond 14 hours"},
		{in: "+123", wantErr: "malformed"},
		{in: "+08:0", wantErr: "malformed"},
		{in: "+8h", wantErr: "malformed"},
		{in: "UTC+", wantErr: "malformed"},
		{in: "+", wantErr: "malformed"},
		{in: "Mars/Olympus_Mons", wantErr: "not a known IANA zone"},
		{in: "", wantErr: "want an IANA zone"},
		{in: "Local", wantErr: "want an IANA zone"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			loc, err := ParseZone(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseZone(%q) = %v, %v; want an error saying %q", tt.in, loc, err, tt.wantErr)
				}
				// Every error lists what is accepted.
				for _, s := range []string{"IANA zone", "Europe/London", "+08:00", "-0530", "UTC+8", "Z"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseZone(%q): %v", tt.in, err)
			}
			for _, c := range []struct {
				month time.Month
				want  int
			}{{time.January, tt.jan}, {time.July, tt.jul}} {
				if _, off := time.Date(2026, c.month, 15, 12, 0, 0, 0, loc).Zone(); off != c.want {
					t.Errorf("ParseZone(%q) in %s: offset %ds, want %ds", tt.in, c.month, off, c.want)
				}
			}
		})
	}
}
