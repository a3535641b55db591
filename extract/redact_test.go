package extract

import "testing"

func TestRedact(t *testing.T) {
	const tok = "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9d"
	tests := []struct{ in, want string }{
		{"https://entitystore.uat.us.coherent.global/docstore/api/v1/documents/versions/tokens/" + tok + "/events.xlsx",
			"https://entitystore.uat.us.coherent.global/docstore/api/v1/documents/versions/tokens/[redacted]/events.xlsx"},
		// After tokens/, even a short or dotted segment is a credential.
		{"https://h/x/tokens/abc.def/f.zip", "https://h/x/tokens/[redacted]/f.zip"},
		{"https://h/x/TOKEN/short/f.zip", "https://h/x/TOKEN/[redacted]/f.zip"},
		{"https://user:pw@h/f.xlsx?sig=abc#frag", "https://h/f.xlsx"},
		{"https://h/files/" + tok + "/f.xlsx", "https://h/files/[redacted]/f.xlsx"},
		{"https://h/d/0123456789abcdef0123456789abcdef/f.xlsx", "https://h/d/[redacted]/f.xlsx"},
		{"https://h/d/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl/f.xlsx", "https://h/d/[redacted]/f.xlsx"},
		// Job ids, file names and ordinary words stay readable.
		{"https://h/acme/api/v4/events/download/19caf63c-76e7-3c8c-b624-9a8a6c8a7293/status",
			"https://h/acme/api/v4/events/download/19caf63c-76e7-3c8c-b624-9a8a6c8a7293/status"},
		{"https://h/coherent_events_2026_03_03_T_12_40_40.xlsx", "https://h/coherent_events_2026_03_03_T_12_40_40.xlsx"},
		{"https://h/all_lower_case_words_of_a_long_path/f.xlsx", "https://h/all_lower_case_words_of_a_long_path/f.xlsx"},
		// The cost of erring on the safe side: a long name without a dot goes.
		{"https://h/coherent_events_2026_03_03_T_12_40_40", "https://h/[redacted]"},
		// Not a URL net/url takes: cut at the query, segments still hidden.
		{"https://h/tokens/" + tok + "/f%zz.xlsx?sig=1", "https://h/tokens/[redacted]/f%zz.xlsx"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
	if got, want := redactText(`bad "https://h/tokens/s3cr3t/f.xlsx", see https://h/a?x=1.`), `bad "https://h/tokens/[redacted]/f.xlsx", see https://h/a`; got != want {
		t.Errorf("redactText = %q, want %q", got, want)
	}
	if got := fileName("https://h/docstore/tokens/"+tok, ".xlsx"); got != "spark-events.xlsx" {
		t.Errorf("fileName of a link ending in its secret = %q", got)
	}
}
