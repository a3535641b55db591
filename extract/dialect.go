package extract

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Forms of the request where Spark's page disagrees with itself: its table
// says one thing, its sample request another.
const (
	EventTypesString = "string" // event_types as a JSON-encoded string of the array (the sample)
	EventTypesArray  = "array"  // event_types as a JSON array (the table)

	FolderColumnSample = "folder_id" // the sample's folder filter column
	FolderColumnTable  = "folderId"  // the table's
)

// Dialect is what a tenant's Events API accepts where Spark's page leaves
// it open. A zero field means unknown: the sample's form is sent first.
// The page size needs no entry: both page_size and pageSize are sent.
type Dialect struct {
	EventTypes   string // EventTypesString or EventTypesArray
	FolderColumn string // FolderColumnSample or FolderColumnTable
}

func (d Dialect) check() error {
	switch d.EventTypes {
	case "", EventTypesString, EventTypesArray:
	default:
		return fmt.Errorf("Dialect.EventTypes %q is neither %q nor %q", d.EventTypes, EventTypesString, EventTypesArray)
	}
	switch d.FolderColumn {
	case "", FolderColumnSample, FolderColumnTable:
	default:
		return fmt.Errorf("Dialect.FolderColumn %q is neither %q nor %q", d.FolderColumn, FolderColumnSample, FolderColumnTable)
	}
	return nil
}

// withDefaults fills the unknown fields with the sample's forms.
func (d Dialect) withDefaults() Dialect {
	if d.EventTypes == "" {
		d.EventTypes = EventTypesString
	}
	if d.FolderColumn == "" {
		d.FolderColumn = FolderColumnSample
	}
	return d
}

func otherEventTypes(f string) string {
	if f == EventTypesArray {
		return EventTypesString
	}
	return EventTypesArray
}

func otherFolderColumn(c string) string {
	if c == FolderColumnTable {
		return FolderColumnSample
	}
	return FolderColumnTable
}

// Dialect returns the forms the client sends now: Config.Dialect, updated
// by every submission Spark accepted after refusing another form. Store it
// and pass it as Config.Dialect next run, so that run sends the right form
// first. Fields no accepted submission used keep their seed value.
func (c *Client) Dialect() Dialect {
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	return c.dialect
}

// learn records the forms of a submission Spark accepted, for the fields q
// actually used.
func (c *Client) learn(q Query, sent Dialect) {
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	if len(q.EventTypes) > 0 && c.dialect.EventTypes != sent.EventTypes {
		c.dialect.EventTypes = sent.EventTypes
		c.log.Info("spark dialect learned", "event_types", sent.EventTypes)
	}
	if q.FolderID != "" && c.dialect.FolderColumn != sent.FolderColumn {
		c.dialect.FolderColumn = sent.FolderColumn
		c.log.Info("spark dialect learned", "folder_column", sent.FolderColumn)
	}
}

// retryForm returns the form to send after Spark refused a submission of
// q in form d with err, if there is one left to try: a 400 naming the
// folder column or an unknown search column switches the folder column;
// any other 400 to a submission carrying event_types switches their form;
// else a folder filter's column. Each switches once (tried), so a query
// Spark refuses for another reason costs at most three submissions.
func (c *Client) retryForm(err error, q Query, d Dialect, tried *Dialect) (Dialect, string, bool) {
	var se *StatusError
	if c.cfg.FixDialect || !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
		return d, "", false
	}
	body := strings.ToLower(se.Body)
	canFolder := q.FolderID != "" && tried.FolderColumn == ""
	canTypes := len(q.EventTypes) > 0 && tried.EventTypes == ""
	folderNamed := strings.Contains(body, "folder") || strings.Contains(body, "unknown search column")
	switch {
	case canFolder && folderNamed, canFolder && !canTypes:
		d.FolderColumn = otherFolderColumn(d.FolderColumn)
		tried.FolderColumn = d.FolderColumn
		return d, "the folder column " + d.FolderColumn, true
	case canTypes:
		d.EventTypes = otherEventTypes(d.EventTypes)
		tried.EventTypes = d.EventTypes
		return d, "event_types as a " + d.EventTypes, true
	}
	return d, "", false
}

// submitAdapting posts q in the client's dialect and, when Spark refuses a
// form Spark's page leaves open, in the other one, remembering the form
// that worked. It sets the job's id and status_url as answered, and
// returns the job slot the submission took (see Client.submit).
func (c *Client) submitAdapting(ctx context.Context, endpoint string, q Query, id, statusURL *string) (*jobSlot, error) {
	d := c.Dialect().withDefaults()
	var tried Dialect
	var first error
	for {
		body, err := submitBody(q, d)
		if err != nil {
			return nil, err
		}
		var out struct {
			ID        string `json:"id"`
			StatusURL string `json:"status_url"`
		}
		slot, err := c.submit(ctx, endpoint, body, &out)
		if err == nil {
			c.learn(q, d)
			*id, *statusURL = out.ID, out.StatusURL
			return slot, nil
		}
		next, what, ok := c.retryForm(err, q, d, &tried)
		if first == nil {
			first = err
		}
		if !ok {
			if err != first {
				return nil, fmt.Errorf("%w; sent again with %s and refused: %v", first, c.describe(d), err)
			}
			return nil, err
		}
		c.log.Warn("submission refused, sending it again in the other form Spark's page allows", "with", what, "err", err)
		d = next
	}
}

func (c *Client) describe(d Dialect) string {
	return fmt.Sprintf("event_types as a %s and the folder column %s", d.EventTypes, d.FolderColumn)
}
