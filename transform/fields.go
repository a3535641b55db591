package transform

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// field indexes an Event field; the order is the order of Fields.
type field int

const (
	fieldEventID field = iota
	fieldEventTime
	fieldEventType
	fieldUserName
	fieldFolderID
	fieldFolderName
	fieldServiceName
	fieldServiceVersion
	fieldDescription
	fieldIPAddress
	numFields
)

// fieldNames are the names of the fields, as the --column flag and
// Options.Columns spell them.
var fieldNames = [numFields]string{
	"event_id", "event_time", "event_type", "user_name", "folder_id",
	"folder_name", "service_name", "service_version", "description", "ip_address",
}

// fieldAliases are the headers each field is recognised by, best first: when
// two columns of a sheet map to the same field, the one with the earlier alias
// wins and the other is kept as an attribute, except a Time column beside a
// winning Date (see clockColumn). The field's own name (e.g. "event_time") is
// implicitly the best alias of all. An event_time header may end in "(UTC)"
// (see cutUTCHeader).
//
// Aliases added later go after the older ones, so that no sheet read before
// maps differently (which would change its events' hash IDs); a header that
// holds a date and a time ranks above those holding a date only, though,
// which would put every event at midnight.
var fieldAliases = [numFields][]string{
	fieldEventID: {"Event ID", "Id"},
	fieldEventTime: {"Timestamp", "Event Date Time", "Date Time", "Event Date", "Date", "Time",
		"Created", "Created At", "Created On", "Created Date"},
	fieldEventType:      {"Event Type", "Type", "Event", "Event Types", "Event Name", "Action"},
	fieldUserName:       {"User Name", "User", "Username", "Email", "User Email"},
	fieldFolderID:       {"Folder ID"},
	fieldFolderName:     {"Folder", "Folder Name"},
	fieldServiceName:    {"Service", "Service Name"},
	fieldServiceVersion: {"Version", "Service Version"},
	fieldDescription:    {"Description", "Details", "Message"},
	fieldIPAddress:      {"IP Address", "IP"},
}

// Fields returns the names of the event fields a workbook column can map to,
// in the order of the Event struct.
func Fields() []string {
	return append([]string(nil), fieldNames[:]...)
}

// lookupField returns the field named name. It accepts the spelling of Fields
// and anything that normalizes like it ("Event Time", "eventTime").
func lookupField(name string) (field, bool) {
	n := normalizeHeader(name)
	for f, fn := range fieldNames {
		if normalizeHeader(fn) == n {
			return field(f), true
		}
	}
	return 0, false
}

// ParseColumnFlag parses a --column value of the form NAME=HEADER, which tells
// which workbook header holds the field NAME. It returns the field's canonical
// name (as in Fields) and the header, trimmed.
func ParseColumnFlag(s string) (fieldName, header string, err error) {
	name, header, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("column mapping %q: want NAME=HEADER, e.g. event_time=When", s)
	}
	f, ok := lookupField(name)
	if !ok {
		return "", "", fmt.Errorf("column mapping %q: unknown field %q (fields: %s)", s, strings.TrimSpace(name), strings.Join(fieldNames[:], ", "))
	}
	header = strings.TrimSpace(header)
	if normalizeHeader(header) == "" {
		return "", "", fmt.Errorf("column mapping %q: empty header", s)
	}
	return fieldNames[f], header, nil
}

// normalizeHeader folds a header to the form headers are compared in: lower
// case letters and digits only, so "  EVENT   type ", "event_type" and
// "Event-Type" all match "Event Type".
func normalizeHeader(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// headerMatch is what a normalized header maps to.
type headerMatch struct {
	field field
	rank  int // lower is better; a --column override is 0
}

// headerMatcher maps normalized headers to fields. It is built once per
// Workbook from the aliases and the user's overrides.
type headerMatcher struct {
	byHeader  map[string]headerMatch
	overrides [numFields]string // the user's header for a field, as given
}

// newHeaderMatcher builds the matcher. An override makes its header mean its
// field and nothing else, and replaces the field's aliases: the user said
// where the field is, so a look-alike column elsewhere must not win.
func newHeaderMatcher(columns map[string]string) (*headerMatcher, error) {
	m := &headerMatcher{byHeader: make(map[string]headerMatch)}
	overrides := make(map[string]field, len(columns))
	for name, header := range columns {
		f, ok := lookupField(name)
		if !ok {
			return nil, fmt.Errorf("column mapping %s=%s: unknown field %q (fields: %s)", name, header, name, strings.Join(fieldNames[:], ", "))
		}
		if m.overrides[f] != "" {
			return nil, fmt.Errorf("column mapping: field %s given twice", fieldNames[f])
		}
		h := normalizeHeader(header)
		if h == "" {
			return nil, fmt.Errorf("column mapping %s=%q: empty header", name, header)
		}
		if other, dup := overrides[h]; dup {
			return nil, fmt.Errorf("column mapping: header %q given for both %s and %s", header, fieldNames[other], fieldNames[f])
		}
		m.overrides[f] = strings.TrimSpace(header)
		overrides[h] = f
	}
	for f := range numFields {
		if m.overrides[f] != "" {
			continue
		}
		m.byHeader[normalizeHeader(fieldNames[f])] = headerMatch{field: f, rank: 1}
		for i, a := range fieldAliases[f] {
			if h := normalizeHeader(a); h != "" {
				if _, seen := m.byHeader[h]; !seen {
					m.byHeader[h] = headerMatch{field: f, rank: i + 2}
				}
			}
		}
	}
	for h, f := range overrides {
		m.byHeader[h] = headerMatch{field: f, rank: 0}
	}
	return m, nil
}

// mapRow maps the cells of a candidate header row to fields: cols[f] is the
// column index of field f, or -1. It reports whether the row can be a header,
// that is whether both a time and a type column map.
func (m *headerMatcher) mapRow(cells []string) (cols [numFields]int, ok bool) {
	var scores [numFields]int
	for f := range cols {
		cols[f] = -1
	}
	for i, c := range cells {
		hm, score, found := m.match(c)
		if !found {
			continue
		}
		if cols[hm.field] < 0 || score < scores[hm.field] {
			cols[hm.field], scores[hm.field] = i, score
		}
	}
	return cols, cols[fieldEventTime] >= 0 && cols[fieldEventType] >= 0
}

// match maps one header to a field; a lower score is a better match. A
// header is matched as it is, else, for event_time, without a "(UTC)"
// suffix; at the same alias the first way wins, so "Timestamp" beats
// "Timestamp (UTC)" as it did before the suffix was known.
func (m *headerMatcher) match(header string) (hm headerMatch, score int, ok bool) {
	if hm, ok := m.byHeader[normalizeHeader(header)]; ok {
		return hm, 2 * hm.rank, true
	}
	if base, utc := cutUTCHeader(header); utc {
		if hm, ok := m.byHeader[normalizeHeader(base)]; ok && hm.field == fieldEventTime {
			return hm, 2*hm.rank + 1, true
		}
	}
	return headerMatch{}, 0, false
}

// cutUTCHeader returns header without a "(UTC)" suffix, and whether it had one.
// A time column so headed says its times are UTC, whatever zone the
// others are in.
func cutUTCHeader(header string) (base string, utc bool) {
	s := strings.TrimSpace(header)
	open := strings.LastIndexByte(s, '(')
	if open < 0 || !strings.HasSuffix(s, ")") || !strings.EqualFold(strings.TrimSpace(s[open+1:len(s)-1]), "UTC") {
		return header, false
	}
	return strings.TrimSpace(s[:open]), true
}

// clockColumn returns the column of a separate time of day that completes
// the event_time column, or -1. "Date" ranks above "Time", so a sheet with a
// Date and a Time column maps its dates to event_time; read alone, they
// would put every event at midnight. A column the user named with --column
// is read alone: the user said where the time is.
func (m *headerMatcher) clockColumn(header []string, cols [numFields]int) int {
	i := cols[fieldEventTime]
	if i < 0 || m.overrides[fieldEventTime] != "" {
		return -1
	}
	date, _ := cutUTCHeader(header[i])
	switch normalizeHeader(date) {
	case normalizeHeader("Date"), normalizeHeader("Event Date"):
	default:
		return -1
	}
	for j, h := range header {
		if clock, _ := cutUTCHeader(h); normalizeHeader(clock) == normalizeHeader("Time") && !slices.Contains(cols[:], j) {
			return j
		}
	}
	return -1
}

// wanted describes, for an error message, the headers the matcher accepts for f.
func (m *headerMatcher) wanted(f field) string {
	if m.overrides[f] != "" {
		return fmt.Sprintf("%q (from --column)", m.overrides[f])
	}
	hs := []string{fmt.Sprintf("%q", fieldNames[f])}
	for _, a := range fieldAliases[f] {
		if hm, ok := m.byHeader[normalizeHeader(a)]; ok && hm.field == f {
			hs = append(hs, fmt.Sprintf("%q", a))
		}
	}
	if f == fieldEventTime {
		return strings.Join(hs, ", ") + `, any of them followed by "(UTC)"`
	}
	return strings.Join(hs, ", ")
}
