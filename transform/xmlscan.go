package transform

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/orisano/gosax"
)

// errUnsure is returned by the fast reader's scanner wherever the XML is
// not in the plain form it reads with certainty: a syntax error, a
// construct it does not interpret, or anything encoding/xml (and so
// excelize) might read otherwise. The caller then reads the sheet with
// excelize instead, which decides what it means or reports it broken.
var errUnsure = errors.New("fast reader unsure")

// xmlEvent kinds, as gosax names them.
const (
	evStart = gosax.EventStart
	evEnd   = gosax.EventEnd
	evText  = gosax.EventText
	evCData = gosax.EventCData
)

// maxDepth bounds element nesting: a deeper document is read by excelize.
const maxDepth = 64

// xmlScanner is gosax with the checks encoding/xml makes and gosax does
// not: tags balance, names and attributes are well formed, text holds
// only valid UTF-8, XML characters and the five predefined entities or
// character references. It is stricter than encoding/xml wherever being
// exact would take more code: anything it refuses is errUnsure.
type xmlScanner struct {
	r     *gosax.Reader
	stack [][]byte // raw names of the open elements
	names []byte   // the stack's names, back to back
	first bool     // no event read yet: an XML declaration may come
	root  bool     // an element was read: excelize fails a part without one
	// Of the last start or end tag:
	name  []byte // raw name, prefix included
	local []byte // name without its prefix, as encoding/xml's Name.Local
	attrs []byte // the tag's attribute text
	self  bool   // the start tag closes itself: its end event follows
	text  []byte // of the last text or CDATA event
}

func newXMLScanner(r io.Reader) *xmlScanner {
	s := &xmlScanner{r: gosax.NewReaderSize(r, 64<<10), first: true}
	s.r.EmitSelfClosingTag = true
	return s
}

// next returns the next start, end, text or CDATA event (comments are
// checked and skipped), or io.EOF at a document end with every element
// closed.
func (s *xmlScanner) next() (uint8, error) {
	for {
		e, err := s.r.Event()
		if err != nil {
			return 0, errUnsure
		}
		first := s.first
		s.first = false
		switch typ := e.Type(); typ {
		case gosax.EventEOF:
			if len(s.stack) > 0 || !s.root {
				return 0, errUnsure
			}
			return 0, io.EOF
		case evStart:
			if err := s.start(e.Bytes); err != nil {
				return 0, err
			}
			return typ, nil
		case evEnd:
			if err := s.end(e.Bytes); err != nil {
				return 0, err
			}
			return typ, nil
		case evText:
			if len(s.stack) == 0 && !isSpace(e.Bytes) {
				return 0, errUnsure
			}
			s.text = e.Bytes
			return typ, nil
		case evCData:
			b := e.Bytes
			if len(s.stack) == 0 || !bytes.HasPrefix(b, []byte("<![CDATA[")) || !validChars(b) {
				return 0, errUnsure
			}
			s.text = b[len("<![CDATA[") : len(b)-len("]]>")]
			return typ, nil
		case gosax.EventComment:
			b := e.Bytes
			if !bytes.HasPrefix(b, []byte("<!--")) || len(b) < 7 ||
				bytes.Contains(b[4:len(b)-3], []byte("--")) || b[len(b)-4] == '-' || !validChars(b) {
				return 0, errUnsure
			}
		case gosax.EventProcessingInstruction:
			if !first || !plainDeclaration(e.Bytes) {
				return 0, errUnsure
			}
		default:
			return 0, errUnsure // a DOCTYPE, or what gosax cannot name
		}
	}
}

// start reads a start tag, <name attrs> or <name attrs/>.
func (s *xmlScanner) start(b []byte) error {
	if len(b) < 3 || b[len(b)-1] != '>' {
		return errUnsure
	}
	b = b[1 : len(b)-1]
	s.self = b[len(b)-1] == '/'
	if s.self {
		b = b[:len(b)-1]
	}
	n := nameLen(b)
	if n == 0 || n < len(b) && !isSpaceByte(b[n]) {
		return errUnsure
	}
	if len(s.stack) == maxDepth {
		return errUnsure
	}
	s.setName(b[:n])
	s.attrs = b[n:]
	if !checkAttrs(s.attrs) {
		return errUnsure
	}
	s.root = true
	start := len(s.names)
	s.names = append(s.names, s.name...)
	s.stack = append(s.stack, s.names[start:len(s.names):len(s.names)])
	return nil
}

// end reads an end tag, </name>, or the end of a self-closing one.
func (s *xmlScanner) end(b []byte) error {
	if len(s.stack) == 0 {
		return errUnsure
	}
	if !s.self {
		if len(b) < 4 || b[1] != '/' {
			return errUnsure
		}
		b = bytes.TrimRight(b[2:len(b)-1], " \t\r\n")
	} else {
		b = s.stack[len(s.stack)-1]
	}
	s.self = false
	open := s.stack[len(s.stack)-1]
	if !bytes.Equal(b, open) {
		return errUnsure
	}
	s.stack = s.stack[:len(s.stack)-1]
	s.names = s.names[:len(s.names)-len(open)]
	s.setName(open)
	s.attrs = nil
	return nil
}

func (s *xmlScanner) setName(name []byte) {
	s.name, s.local = name, name
	// encoding/xml splits a name at its colon only when there is one, with
	// something on either side.
	if i := bytes.IndexByte(name, ':'); i > 0 && i < len(name)-1 && bytes.IndexByte(name[i+1:], ':') < 0 {
		s.local = name[i+1:]
	}
}

// depth is how many elements are open.
func (s *xmlScanner) depth() int { return len(s.stack) }

// skip reads to the end of the element just started, checking it.
func (s *xmlScanner) skip() error {
	d := len(s.stack)
	for len(s.stack) >= d {
		typ, err := s.next()
		if err != nil {
			return errUnsure // io.EOF too: the element never closed
		}
		if typ == evText {
			if _, ok := appendText(nil, s.text); !ok {
				return errUnsure
			}
		}
	}
	return nil
}

// nameLen is the length of the ASCII XML name b starts with, or 0. Names
// outside ASCII are valid XML but rare enough to leave to excelize.
func nameLen(b []byte) int {
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return i
		}
	}
	return len(b)
}

// attr returns the value of the tag's attribute whose local name is local
// (the last of several, as excelize reads them), and whether it has one.
// Values are plain: checkAttrs refused any with an entity.
func (s *xmlScanner) attr(local string) ([]byte, bool) {
	var (
		val   []byte
		found bool
	)
	for b := s.attrs; ; {
		var name, v []byte
		name, v, b = nextAttr(b)
		if name == nil {
			return val, found
		}
		if i := bytes.IndexByte(name, ':'); i > 0 && i < len(name)-1 && bytes.IndexByte(name[i+1:], ':') < 0 {
			name = name[i+1:]
		}
		if string(name) == local {
			val, found = v, true
		}
	}
}

// nextAttr splits the first name="value" off b, which checkAttrs has
// found well formed.
func nextAttr(b []byte) (name, val, rest []byte) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return nil, nil, nil
	}
	n := nameLen(b)
	name, b = b[:n], bytes.TrimLeft(b[n:], " \t\r\n")
	b = bytes.TrimLeft(b[1:], " \t\r\n") // the "="
	q := b[0]
	end := bytes.IndexByte(b[1:], q)
	return name, b[1 : 1+end], b[2+end:]
}

// checkAttrs reports whether b is attributes as encoding/xml reads them,
// with values free of entities, "<" and line ends (which encoding/xml
// would rewrite).
func checkAttrs(b []byte) bool {
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		if len(b) == 0 {
			return true
		}
		n := nameLen(b)
		if n == 0 {
			return false
		}
		b = bytes.TrimLeft(b[n:], " \t\r\n")
		if len(b) == 0 || b[0] != '=' {
			return false
		}
		b = bytes.TrimLeft(b[1:], " \t\r\n")
		if len(b) == 0 || b[0] != '"' && b[0] != '\'' {
			return false
		}
		end := bytes.IndexByte(b[1:], b[0])
		if end < 0 {
			return false
		}
		v := b[1 : 1+end]
		if bytes.ContainsAny(v, "&<\r\n") || !validChars(v) {
			return false
		}
		b = b[2+end:]
		if len(b) > 0 && !isSpaceByte(b[0]) {
			return false
		}
	}
}

// plainDeclaration reports whether b is an XML declaration that
// encoding/xml reads as UTF-8 XML 1.0 without help.
func plainDeclaration(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("<?xml ")) || !bytes.HasSuffix(b, []byte("?>")) {
		return false
	}
	attrs := b[len("<?xml ") : len(b)-2]
	if !checkAttrs(attrs) {
		return false
	}
	for rest := attrs; ; {
		var name, val []byte
		name, val, rest = nextAttr(rest)
		switch {
		case name == nil:
			return true
		case string(name) == "version" && string(val) != "1.0":
			return false
		case string(name) == "encoding" && !bytes.EqualFold(val, []byte("utf-8")):
			return false
		}
	}
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpace(b []byte) bool {
	for _, c := range b {
		if !isSpaceByte(c) {
			return false
		}
	}
	return true
}

// validChars reports whether b is UTF-8 of XML characters only.
func validChars(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || r >= 0xD800 && r <= 0xDFFF || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// appendText appends text as encoding/xml decodes it: entities and
// character references replaced, CRLF and lone CR made LF. ok is false
// where encoding/xml would fail or might read it otherwise.
func appendText(dst, text []byte) (_ []byte, ok bool) {
	if !validChars(text) {
		return dst, false
	}
	for len(text) > 0 {
		i := bytes.IndexAny(text, "&\r]")
		if i < 0 {
			return append(dst, text...), true
		}
		dst = append(dst, text[:i]...)
		text = text[i:]
		switch text[0] {
		case ']':
			if bytes.HasPrefix(text, []byte("]]>")) {
				return dst, false
			}
			dst = append(dst, ']')
			text = text[1:]
		case '\r':
			dst = append(dst, '\n')
			text = text[1:]
			if len(text) > 0 && text[0] == '\n' {
				text = text[1:]
			}
		default:
			end := bytes.IndexByte(text, ';')
			if end < 0 || end > 12 {
				return dst, false
			}
			ent := text[1:end]
			text = text[end+1:]
			switch string(ent) {
			case "lt":
				dst = append(dst, '<')
			case "gt":
				dst = append(dst, '>')
			case "amp":
				dst = append(dst, '&')
			case "apos":
				dst = append(dst, '\'')
			case "quot":
				dst = append(dst, '"')
			default:
				r, ok := charRef(ent)
				if !ok {
					return dst, false
				}
				dst = utf8.AppendRune(dst, r)
			}
		}
	}
	return dst, true
}

// charRef reads "#123" or "#x1F600", refusing what is no XML character.
func charRef(ent []byte) (rune, bool) {
	if len(ent) < 2 || ent[0] != '#' {
		return 0, false
	}
	digits, base := ent[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, false
	}
	for _, c := range digits {
		if !(c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil {
		return 0, false
	}
	r := rune(n)
	if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
		return 0, false
	}
	return r, true
}
