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
// implicitly the best alias of all.
var fieldAliases = [numFields][]string{
	fieldEventID:        {"Event ID", "Id"},
	fieldEventTime:      {"Timestamp", "Event Date", "Date", "Time", "Created", "Created At"},
	fieldEventType:      {"Event Type", "Type", "Event"},
	fieldUserName:       {"User Name", "User", "Username", "Email"},
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
	var ranks [numFields]int
	for f := range cols {
		cols[f] = -1
	}
	for i, c := range cells {
		hm, found := m.byHeader[normalizeHeader(c)]
		if !found {
			continue
		}
		if cols[hm.field] < 0 || hm.rank < ranks[hm.field] {
			cols[hm.field], ranks[hm.field] = i, hm.rank
		}
	}
	return cols, cols[fieldEventTime] >= 0 && cols[fieldEventType] >= 0
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
	switch normalizeHeader(header[i]) {
	case normalizeHeader("Date"), normalizeHeader("Event Date"):
	default:
		return -1
	}
	for j, h := range header {
		if normalizeHeader(h) == normalizeHeader("Time") && !slices.Contains(cols[:], j) {
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
	return strings.Join(hs, ", ")
}
