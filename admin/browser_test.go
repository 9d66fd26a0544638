package admin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passbridge/passbridge/connector"
)

// chromium finds Debian's Chromium. In CI (CI=true) its absence fails the
// test; elsewhere the test is skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium); CI runs this test")
	return ""
}

// screenshotDir is where the screenshots go: PASSBRIDGE_SCREENSHOTS (the
// README's images are made with it set to docs/screenshots), else a
// temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("PASSBRIDGE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestConsoleInABrowser signs in with headless Chromium, reads the funnel,
// opens a person's timeline, resends the invitation, and checks that a
// form posted without the CSRF token is refused; it saves a screenshot of
// each page.
func TestConsoleInABrowser(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, false)
	now := e.clock.Now()
	for i, name := range []string{"ann", "bob", "cat", "dan", "eve", "fay"} {
		email := name + "@tech.gov.sg"
		switch {
		case i < 3:
			e.mkUser(email, invited(now))
		case i == 3:
			e.mkUser(email, failed)
		default:
			e.mkUser(email, nil)
		}
	}
	dir := screenshotDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.WindowSize(1200, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			p := filepath.Join(dir, name)
			t.Logf("screenshot: %s", p)
			return os.WriteFile(p, png, 0o644)
		})
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.TextContent(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		shot("console-signin.png"),
		chromedp.SendKeys(chromedp.ID("token"), aliceToken),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("funnel")),
		shot("console-overview.png"),
	)
	if err != nil {
		t.Fatalf("sign in and overview: %v", err)
	}
	funnelDesc := text("#funnel desc")
	for _, want := range []string{"invited 3", "failed 1", "pending 2"} {
		if !strings.Contains(funnelDesc, want) {
			t.Errorf("funnel description %q lacks %q", funnelDesc, want)
		}
	}

	// A person's timeline, and a resend.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[text()="ann@tech.gov.sg"]`)),
		chromedp.WaitVisible(chromedp.ID("resend")),
		chromedp.Click(chromedp.ID("resend")),
		chromedp.WaitVisible(chromedp.CSS("p.done")),
		shot("console-user.png"),
	)
	if err != nil {
		t.Fatalf("timeline and resend: %v", err)
	}
	if h, status := text("h1"), text("p.done"); h != "ann@tech.gov.sg" || !strings.Contains(status, "new invitation is queued") {
		t.Errorf("user page: heading %q, status %q", h, status)
	}
	p, _ := e.st.ListUsers(context.Background(), connector.Query{Filter: connector.Eq(connector.AttrUserName, "ann@tech.gov.sg"), Count: 1})
	if !hasEvent(e.events(p.Items[0].ID), connector.EventAdminResend, "admin:alice") {
		t.Error("the browser's resend wrote no admin.resend event by admin:alice")
	}
	if tl := text("table.timeline"); !strings.Contains(tl, connector.EventAdminResend) || !strings.Contains(tl, "user.created") {
		t.Errorf("timeline lacks the events:\n%s", tl)
	}

	// A form without the CSRF token (as another site would post it): the
	// browser's own cookie goes along, the server refuses.
	err = chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => {
				const f = document.createElement('form');
				f.method = 'post'; f.action = location.pathname + '/hold';
				const i = document.createElement('input'); i.name = 'lifecycleHold'; i.value = 'forged';
				f.appendChild(i); document.body.appendChild(f); f.submit(); return true; })()`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Refused"]`)),
	)
	if err != nil {
		t.Fatalf("CSRF-less post: %v", err)
	}
	if u, _ := e.st.GetUser(context.Background(), p.Items[0].ID); u.Onboarding.LifecycleHold != "" {
		t.Errorf("the forged post set the hold %q", u.Onboarding.LifecycleHold)
	}

	// The import page, keyboard first: the skip link is the first stop.
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/admin/import"),
		chromedp.WaitVisible(chromedp.ID("file")),
		chromedp.KeyEvent("\t"),
		shot("console-import.png"),
	)
	if err != nil {
		t.Fatalf("import page: %v", err)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if focused != "Skip to main content" {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
}
