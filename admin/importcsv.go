package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/passbridge/passbridge/connector"
)

// ImportColumns are the CSV columns bulk onboarding reads (a header row
// names them, in any order; email is required, the others optional).
var ImportColumns = []string{"email", "givenName", "familyName", "seed", "accountType"}

// Outcomes of an import row.
const (
	RowWouldCreate = "would create" // dry run: the policy accepts it
	RowCreated     = "created"
	RowRefused     = "refused"   // the sign-up policy says no
	RowDuplicate   = "duplicate" // the address is on an earlier row
	RowExists      = "exists"    // a user with this userName exists
	RowInvalid     = "invalid"   // the row cannot be read (e.g. seed not a boolean)
	RowError       = "error"     // the store failed
)

// ImportRow is one CSV row and what became of it.
type ImportRow struct {
	Line        int                     `json:"line"`
	Email       string                  `json:"email"`
	GivenName   string                  `json:"givenName,omitempty"`
	FamilyName  string                  `json:"familyName,omitempty"`
	Seed        bool                    `json:"seed,omitempty"`
	AccountType string                  `json:"accountType,omitempty"`
	Verdict     connector.PolicyVerdict `json:"verdict"`
	Outcome     string                  `json:"outcome"`
	// Detail says why, for anything but a created row.
	Detail string `json:"detail,omitempty"`
	UserID string `json:"userId,omitempty"`
}

// ImportSummary counts the rows by outcome.
type ImportSummary struct {
	Rows      int            `json:"rows"`
	ByOutcome map[string]int `json:"byOutcome"`
}

// Importer creates users from a CSV, through the Service (the sign-up
// policy, the invitation job and the events, as a SCIM create).
type Importer struct {
	Service *connector.Service
	// Actor is recorded on every created user, e.g. "import:people.csv".
	Actor string
	// DryRun: only the policy's verdicts, nothing created.
	DryRun bool
	// MaxRows bounds one import (0: no bound).
	MaxRows int
}

// Run reads r row by row (the file is never held in memory), calls each for
// every data row in order, and returns the counts. An error from each
// stops the import. Duplicates are found by address within the file; the
// store is asked whether the userName exists.
func (im Importer) Run(ctx context.Context, r io.Reader, each func(ImportRow) error) (ImportSummary, error) {
	sum := ImportSummary{ByOutcome: map[string]int{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return sum, fmt.Errorf("read the header row (%s): %w", strings.Join(ImportColumns, ", "), err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		for _, c := range ImportColumns {
			if strings.EqualFold(h, c) {
				col[c] = i
			}
		}
	}
	if _, ok := col["email"]; !ok {
		return sum, fmt.Errorf("the header row has no email column (columns: %s)", strings.Join(ImportColumns, ", "))
	}
	seen := map[string]int{} // folded address → line
	for {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return sum, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return sum, fmt.Errorf("line %d: %w", line, err)
			}
			row := ImportRow{Line: line, Outcome: RowInvalid, Detail: pe.Err.Error()}
			if err := im.emit(&sum, row, each); err != nil {
				return sum, err
			}
			continue
		}
		if im.MaxRows > 0 && sum.Rows >= im.MaxRows {
			return sum, fmt.Errorf("line %d: more than %d rows; split the file", line, im.MaxRows)
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := ImportRow{Line: line, Email: get("email"), GivenName: get("givenName"), FamilyName: get("familyName"), AccountType: get("accountType")}
		if s := get("seed"); s != "" {
			b, err := parseBool(s)
			if err != nil {
				row.Outcome, row.Detail = RowInvalid, fmt.Sprintf("seed: %q is not true or false", s)
				if err := im.emit(&sum, row, each); err != nil {
					return sum, err
				}
				continue
			}
			row.Seed = b
		}
		im.judge(ctx, &row, seen)
		if err := im.emit(&sum, row, each); err != nil {
			return sum, err
		}
	}
}

func (im Importer) emit(sum *ImportSummary, row ImportRow, each func(ImportRow) error) error {
	sum.Rows++
	sum.ByOutcome[row.Outcome]++
	return each(row)
}

// judge fills the row's verdict and outcome, creating the user unless dry.
func (im Importer) judge(ctx context.Context, row *ImportRow, seen map[string]int) {
	row.Verdict = im.Service.CheckPolicy(row.Email, row.AccountType)
	key := connector.FoldKey(row.Email)
	if first, dup := seen[key]; dup && row.Email != "" {
		row.Outcome, row.Detail = RowDuplicate, fmt.Sprintf("the same address as line %d", first)
		return
	}
	seen[key] = row.Line
	if !row.Verdict.Allowed {
		row.Outcome, row.Detail = RowRefused, row.Verdict.Reason
		return
	}
	page, err := im.Service.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrUserName, row.Email), Count: 1})
	switch {
	case err != nil:
		row.Outcome, row.Detail = RowError, err.Error()
		return
	case len(page.Items) > 0:
		u := page.Items[0]
		row.Outcome, row.UserID = RowExists, u.ID
		row.Detail = fmt.Sprintf("a user with this userName exists (state %s)", u.Onboarding.State)
		return
	}
	if im.DryRun {
		row.Outcome = RowWouldCreate
		return
	}
	u, err := im.Service.CreateUser(ctx, im.Actor, importUser(*row))
	switch {
	case err == nil:
		row.Outcome, row.UserID = RowCreated, u.ID
	case errors.Is(err, connector.ErrAlreadyExists):
		row.Outcome, row.Detail = RowExists, "a user with this userName exists"
	default:
		if ie, ok := connector.IsInputError(err); ok {
			row.Outcome, row.Detail = RowRefused, ie.Detail
		} else {
			row.Outcome, row.Detail = RowError, err.Error()
		}
	}
}

// importUser is the user a row creates: what a SCIM client would send.
func importUser(row ImportRow) connector.User {
	doc := map[string]any{
		"emails": []map[string]any{{"value": row.Email, "type": "work", "primary": true}},
	}
	if row.GivenName != "" || row.FamilyName != "" {
		doc["name"] = map[string]any{"givenName": row.GivenName, "familyName": row.FamilyName}
		doc["displayName"] = strings.TrimSpace(row.GivenName + " " + row.FamilyName)
	}
	b, _ := json.Marshal(doc) // maps of strings: cannot fail
	return connector.User{
		UserName: row.Email, Active: true, Emails: []string{row.Email}, Doc: b,
		SeedRequested: row.Seed, MailboxType: row.AccountType,
	}
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "y":
		return true, nil
	case "no", "n":
		return false, nil
	}
	return strconv.ParseBool(s)
}
