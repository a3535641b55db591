package analyst

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/internal/when"
	querylib "sparkevents/sql"
)

// Param is a parameter of a library query: a psql variable the file uses as
// :'name'.
type Param struct {
	Name    string
	Default string // the value the file's \set gives it when unset
	Doc     string
}

// Query is one file of the query library.
type Query struct {
	Name     string // the file name without .sql
	Question string // the first paragraph of the leading comment
	Example  string // the psql command line of the comment's Example section
	Params   []Param
	SQL      string // the file as written, psql meta-commands included
}

// Queries returns the query library, sorted by name.
func Queries() ([]Query, error) {
	return parseLibrary(querylib.FS)
}

func parseLibrary(fsys fs.FS) ([]Query, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	qs := make([]Query, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		q, err := parseQuery(strings.TrimSuffix(n, ".sql"), string(b))
		if err != nil {
			return nil, fmt.Errorf("query file %s: %w", n, err)
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// psqlDefault matches the line that gives a variable its default in psql:
//
//	\if :{?from} \else \set from '-infinity' \endif
var psqlDefault = regexp.MustCompile(`^\\if\s+:\{\?(\w+)\}\s+\\else\s+\\set\s+(\w+)\s+(.*?)\s*\\endif$`)

func parseQuery(name, text string) (Query, error) {
	q := Query{Name: name, SQL: text}
	var (
		section  = "question"
		question []string
		example  []string
		docs     = map[string]string{}
		order    []string
		defaults = map[string]string{}
		inHeader = true
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if inHeader && strings.HasPrefix(line, "--") {
			c := strings.TrimSpace(strings.TrimPrefix(line, "--"))
			switch {
			case c == "Parameters:":
				section = "params"
			case c == "Example:":
				section = "example"
			case c == "":
				if section == "question" && len(question) > 0 {
					section = "after question"
				}
			case section == "question":
				question = append(question, c)
			case section == "params":
				n, doc, ok := strings.Cut(c, ":")
				if !ok || !isIdent(n) {
					return Query{}, fmt.Errorf("parameter line %q is not \"name: description\"", c)
				}
				docs[n] = strings.TrimSpace(doc)
				order = append(order, n)
			case section == "example":
				example = append(example, c)
			}
			continue
		}
		inHeader = false
		if strings.HasPrefix(line, `\`) {
			m := psqlDefault.FindStringSubmatch(line)
			if m == nil || m[1] != m[2] {
				return Query{}, fmt.Errorf(`psql meta-command %q is not a parameter default (\if :{?x} \else \set x value \endif)`, line)
			}
			defaults[m[1]] = unquotePsql(m[3])
		}
	}
	if len(question) == 0 {
		return Query{}, fmt.Errorf("no question in the leading comment")
	}
	if len(example) == 0 {
		return Query{}, fmt.Errorf("no Example section in the leading comment")
	}
	q.Question = strings.Join(question, " ")
	q.Example = strings.Join(example, "\n")
	for _, n := range order {
		d, ok := defaults[n]
		if !ok {
			return Query{}, fmt.Errorf("parameter %s has no psql default", n)
		}
		q.Params = append(q.Params, Param{Name: n, Default: d, Doc: docs[n]})
	}
	for n := range defaults {
		if _, ok := docs[n]; !ok {
			return Query{}, fmt.Errorf("psql default for %s, which the Parameters section does not describe", n)
		}
	}
	_, used, err := bindVariables(stripMeta(text))
	if err != nil {
		return Query{}, err
	}
	for _, n := range used {
		if _, ok := docs[n]; !ok {
			return Query{}, fmt.Errorf("the SQL uses :'%s', which the Parameters section does not describe", n)
		}
	}
	for _, n := range order {
		if !slices.Contains(used, n) {
			return Query{}, fmt.Errorf("parameter %s is described but never used", n)
		}
	}
	return q, nil
}

// unquotePsql returns the value of a \set argument: a single-quoted psql
// string (with ” or \' for a quote) or a bare word.
func unquotePsql(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = s[1 : len(s)-1]
		s = strings.ReplaceAll(s, `''`, `'`)
		return strings.ReplaceAll(s, `\'`, `'`)
	}
	return s
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// stripMeta drops psql meta-command lines, which the server would not parse.
func stripMeta(text string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), `\`) {
			b.WriteString("\n") // keep line numbers of server errors right
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// bindVariables rewrites each psql variable :'name' of sql into a bound
// parameter $n, typed text so it means what psql's quoted literal means once
// the file casts it. It returns the names in parameter order. Like psql, it
// leaves quoted strings, quoted identifiers, dollar quotes and comments alone,
// and :: casts. Interpolation that would splice raw text into the statement
// (:name, :"name") is refused: it cannot be a bound parameter.
func bindVariables(sql string) (string, []string, error) {
	var (
		b     strings.Builder
		names []string
		index = map[string]int{}
	)
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == '-' && i+1 < n && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = n - i
			}
			b.WriteString(sql[i : i+j])
			i += j
		case c == '/' && i+1 < n && sql[i+1] == '*':
			j := i + 2
			for depth := 1; depth > 0 && j < n; {
				switch {
				case strings.HasPrefix(sql[j:], "/*"):
					depth++
					j += 2
				case strings.HasPrefix(sql[j:], "*/"):
					depth--
					j += 2
				default:
					j++
				}
			}
			b.WriteString(sql[i:j])
			i = j
		case c == '\'':
			escapes := i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') && (i < 2 || !isWordByte(sql[i-2]))
			j := i + 1
			for j < n {
				if escapes && sql[j] == '\\' {
					j += 2
					continue
				}
				if sql[j] == '\'' {
					if j+1 < n && sql[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, n)
			b.WriteString(sql[i:j])
			i = j
		case c == '"':
			j := i + 1
			for j < n && !(sql[j] == '"' && (j+1 >= n || sql[j+1] != '"')) {
				if sql[j] == '"' {
					j++
				}
				j++
			}
			j = min(j+1, n)
			b.WriteString(sql[i:j])
			i = j
		case c == '$' && (i == 0 || !isWordByte(sql[i-1])):
			tag := dollarTag(sql[i:])
			if tag == "" {
				b.WriteByte(c)
				i++
				continue
			}
			end := strings.Index(sql[i+len(tag):], tag)
			j := n
			if end >= 0 {
				j = i + len(tag) + end + len(tag)
			}
			b.WriteString(sql[i:j])
			i = j
		case c == ':' && i+1 < n && sql[i+1] == ':':
			b.WriteString("::")
			i += 2
		case c == ':' && i+1 < n && sql[i+1] == '\'':
			j := strings.IndexByte(sql[i+2:], '\'')
			if j < 0 || !isIdent(sql[i+2:i+2+j]) {
				return "", nil, fmt.Errorf("malformed variable reference at %q", excerpt(sql[i:]))
			}
			name := sql[i+2 : i+2+j]
			k, ok := index[name]
			if !ok {
				names = append(names, name)
				k = len(names)
				index[name] = k
			}
			fmt.Fprintf(&b, "$%d::text", k)
			i += 2 + j + 1
		case c == ':' && i+1 < n && (sql[i+1] == '"' || sql[i+1] == '{' || isIdentStart(sql[i+1])) && (i == 0 || sql[i-1] != ':'):
			return "", nil, fmt.Errorf("variable reference %q: only :'name' (a bound value) is allowed", excerpt(sql[i:]))
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), names, nil
}

// dollarTag returns the opening $tag$ of a dollar-quoted string at the start
// of s, or "".
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		if s[j] == '$' {
			if j == 1 || isIdent(s[1:j]) {
				return s[:j+1]
			}
			return ""
		}
		if !isWordByte(s[j]) {
			return ""
		}
	}
	return ""
}

func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isWordByte(c byte) bool   { return isIdentStart(c) || '0' <= c && c <= '9' }

func excerpt(s string) string {
	if i := strings.IndexAny(s, " \n\t,)"); i > 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// RunQuery runs the library query name with params (unset ones take the
// file's default) and writes the result to w as format: "table" or "" (aligned
// columns, as psql prints), "csv" (with a header) or "json" (an array of
// objects, numbers and booleans typed, NULL as null).
//
// The query runs in a read-only transaction with the time zone set to UTC,
// the session the files' psql examples document, so days and printed times
// match theirs.
func RunQuery(ctx context.Context, db *pgxpool.Pool, name string, params map[string]string, format string, w io.Writer) error {
	var write func(io.Writer, result) error
	switch format {
	case "table", "":
		write = writeTable
	case "csv":
		write = writeCSV
	case "json":
		write = writeJSON
	default:
		return fmt.Errorf("%w: unknown format %q: use table, csv or json", ErrRequest, format)
	}
	sql, args, err := bindQuery(name, params)
	if err != nil {
		return err
	}
	res, err := runReadOnly(ctx, db, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...))
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") && len(params) > 0 {
		// Class 22, data exception: a parameter's value does not fit its
		// type (days=ten, from=someday).
		return fmt.Errorf("%w: query %s: a --param value does not fit: %s (parameters: %s)", ErrRequest, name, pgErr.Message, paramDocs(qsParams(name)))
	}
	if err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	return write(w, res)
}

// isTimeParam reports whether sql casts the psql variable name to a
// timestamp: :'name'::timestamptz or ::timestamp.
func isTimeParam(sql, name string) bool {
	return strings.Contains(sql, ":'"+name+"'::timestamp")
}

// ErrRequest is wrapped by RunQuery's errors about what it was asked for:
// an unknown query, parameter or format, which the caller can fix.
var ErrRequest = errors.New("bad query request")

// bindQuery returns the library query name as SQL with bound parameters,
// and its arguments: params, and the file's defaults for the unset ones.
func bindQuery(name string, params map[string]string) (string, []any, error) {
	qs, err := Queries()
	if err != nil {
		return "", nil, err
	}
	i := slices.IndexFunc(qs, func(q Query) bool { return q.Name == name })
	if i < 0 {
		names := make([]string, len(qs))
		for i, q := range qs {
			names[i] = q.Name
		}
		return "", nil, fmt.Errorf("%w: no query %q; the library has: %s", ErrRequest, name, strings.Join(names, ", "))
	}
	q := qs[i]
	values := map[string]string{}
	for _, p := range q.Params {
		values[p.Name] = p.Default
	}
	now := time.Now()
	for k, v := range params {
		if _, ok := values[k]; !ok {
			return "", nil, fmt.Errorf("%w: query %s has no parameter %q; its parameters are: %s", ErrRequest, name, k, paramNames(q))
		}
		// A time takes the CLI's grammar (30d, 2w, a date, RFC 3339),
		// sent to PostgreSQL as RFC 3339; infinity stays as it is.
		if isTimeParam(q.SQL, k) && !slices.Contains([]string{"infinity", "-infinity"}, strings.ToLower(strings.TrimSpace(v))) {
			t, err := when.ParseTime(v, now)
			if err != nil {
				return "", nil, fmt.Errorf("%w: --param %s: %w", ErrRequest, k, err)
			}
			v = t.Format(time.RFC3339Nano)
		}
		values[k] = v
	}
	sql, order, err := bindVariables(stripMeta(q.SQL))
	if err != nil {
		return "", nil, fmt.Errorf("query %s: %w", name, err)
	}
	args := make([]any, len(order))
	for i, n := range order {
		args[i] = values[n]
	}
	return sql, args, nil
}

// qsParams returns the parameters of the library query name.
func qsParams(name string) []Param {
	qs, _ := Queries()
	for _, q := range qs {
		if q.Name == name {
			return q.Params
		}
	}
	return nil
}

// paramDocs says each parameter's name and what it takes.
func paramDocs(ps []Param) string {
	if len(ps) == 0 {
		return "none"
	}
	docs := make([]string, len(ps))
	for i, p := range ps {
		docs[i] = p.Name + ": " + p.Doc
	}
	return strings.Join(docs, "; ")
}

func paramNames(q Query) string {
	if len(q.Params) == 0 {
		return "none"
	}
	names := make([]string, len(q.Params))
	for i, p := range q.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// result is a query result in PostgreSQL's text format; a nil cell is NULL.
type result struct {
	columns []string
	oids    []uint32
	rows    [][]*string
}

func runReadOnly(ctx context.Context, db *pgxpool.Pool, sql string, args []any) (result, error) {
	var res result
	err := pgx.BeginTxFunc(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL TimeZone TO 'UTC'"); err != nil {
			return err
		}
		// A query that reads the rollups answers in milliseconds, but the
		// planner costs the branches it will skip (a period's rows, when
		// the all-time rollup answers) as if they ran, and compiling the
		// query took a second of its time at 10M events (bench/README.md).
		if _, err := tx.Exec(ctx, "SET LOCAL jit TO off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for _, fd := range rows.FieldDescriptions() {
			res.columns = append(res.columns, fd.Name)
			res.oids = append(res.oids, fd.DataTypeOID)
		}
		for rows.Next() {
			raw := rows.RawValues()
			row := make([]*string, len(raw))
			for i, v := range raw {
				if v != nil {
					s := string(v)
					row[i] = &s
				}
			}
			res.rows = append(res.rows, row)
		}
		return rows.Err()
	})
	return res, err
}

// PostgreSQL type OIDs that decide how a JSON value is written.
const (
	oidBool    = 16
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidJSON    = 114
	oidFloat4  = 700
	oidFloat8  = 701
	oidNumeric = 1700
	oidJSONB   = 3802
)

func isNumeric(oid uint32) bool {
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8, oidNumeric:
		return true
	}
	return false
}

// jsonNumber reports whether s, a number in PostgreSQL's text format, is
// also a JSON number (NaN and Infinity are not).
func jsonNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && !strings.ContainsAny(s, "nNiI")
}
