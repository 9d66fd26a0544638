package admin

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

const sampleCSV = `email,givenName,familyName,seed,accountType
ann@tech.gov.sg,Ann,Tan,true,
bob@blocked.gov.sg,Bob,Lim,false,
ANN@tech.gov.sg,Ann,Again,,
cat@tech.gov.sg,Cat,Ng,maybe,
dan@tech.gov.sg,Dan,Ong,no,LiteMail
eve@agency.gov.sg,Eve,Koh,,FullMailbox
`

func runImport(t *testing.T, e *env, dry bool) ([]ImportRow, ImportSummary) {
	t.Helper()
	var rows []ImportRow
	im := Importer{Service: e.svc, Actor: "import:people.csv", DryRun: dry}
	sum, err := im.Run(context.Background(), strings.NewReader(sampleCSV), func(r ImportRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, sum
}

func TestImportDryRunFlagsDuplicatesAndPolicyRefusalsAndCreatesNothing(t *testing.T) {
	e := newEnv(t, false)
	rows, sum := runImport(t, e, true)
	want := []struct {
		line    int
		outcome string
		why     string
	}{
		{2, RowWouldCreate, "matches the organisational domain"},
		{3, RowRefused, "blocked.gov.sg is not accepted"},
		{4, RowDuplicate, "the same address as line 2"},
		{5, RowInvalid, `seed: "maybe"`},
		{6, RowRefused, "LiteMail mailboxes cannot sign up"},
		{7, RowWouldCreate, "gov.sg"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		why := r.Detail
		if why == "" {
			why = r.Verdict.Reason
		}
		if r.Line != w.line || r.Outcome != w.outcome || !strings.Contains(why, w.why) {
			t.Errorf("row %d = line %d %s %q; want line %d %s ~%q", i, r.Line, r.Outcome, why, w.line, w.outcome, w.why)
		}
	}
	if sum.Rows != 6 || sum.ByOutcome[RowWouldCreate] != 2 || sum.ByOutcome[RowRefused] != 2 {
		t.Errorf("summary = %+v", sum)
	}
	if p, _ := e.st.ListUsers(context.Background(), connector.Query{}); p.Total != 0 {
		t.Errorf("a dry run created %d users", p.Total)
	}
	evs, _ := e.st.ListEvents(context.Background(), "", 0, 0)
	if len(evs) != 0 {
		t.Errorf("a dry run wrote %d events", len(evs))
	}
}

func TestImportCreatesUsersThroughTheService(t *testing.T) {
	e := newEnv(t, false)
	rows, sum := runImport(t, e, false)
	if sum.ByOutcome[RowCreated] != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	u, err := e.st.GetUser(context.Background(), rows[0].UserID)
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "ann@tech.gov.sg" || !u.SeedRequested || u.Onboarding.State != connector.StatePending || !strings.Contains(string(u.Doc), `"givenName":"Ann"`) {
		t.Errorf("created %+v doc %s", u, u.Doc)
	}
	if !hasEvent(e.events(u.ID), "user.created", "import:people.csv") {
		t.Error("no user.created by import:people.csv")
	}
	// Again: every row now exists (or is refused as before).
	rows, sum = runImport(t, e, true)
	if rows[0].Outcome != RowExists || sum.ByOutcome[RowExists] != 2 {
		t.Errorf("second run: %+v", sum)
	}
}

func TestImportNeedsAnEmailColumn(t *testing.T) {
	e := newEnv(t, false)
	_, err := Importer{Service: e.svc, DryRun: true}.Run(context.Background(), strings.NewReader("mail,givenName\nx@y.z,X\n"), func(ImportRow) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no email column") {
		t.Errorf("err = %v", err)
	}
}

func TestConsoleUploadUsesTheSameImport(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	e.signIn(c)
	_, form := e.get(c, "/admin/import")
	csrf := csrfOf(t, form)
	upload := func(dry bool) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("csrf", csrf)
		if dry {
			mw.WriteField("dryRun", "1")
		}
		fw, _ := mw.CreateFormFile("file", "people.csv")
		io.WriteString(fw, sampleCSV)
		mw.Close()
		resp, err := c.Post(e.ts.URL+"/admin/import", mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := upload(true)
	if code != http.StatusOK {
		t.Fatalf("dry upload = %d\n%s", code, body)
	}
	contains(t, body, "Dry run of", "6 rows", "the same address as line 2", "blocked.gov.sg is not accepted", "would create: 2")
	if p, _ := e.st.ListUsers(context.Background(), connector.Query{}); p.Total != 0 {
		t.Fatalf("dry upload created %d users", p.Total)
	}
	code, body = upload(false)
	contains(t, body, "Imported", "created: 2")
	p, _ := e.st.ListUsers(context.Background(), connector.Query{Count: 10})
	if code != http.StatusOK || p.Total != 2 {
		t.Fatalf("upload = %d, %d users", code, p.Total)
	}
	if !hasEvent(e.events(p.Items[0].ID), "user.created", "admin:alice") {
		t.Error("an uploaded user is not created by admin:alice")
	}
}
