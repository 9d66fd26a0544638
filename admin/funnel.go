package admin

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/passbridge/passbridge/connector"
)

// funnelSVG draws the users by state as horizontal bars. It is inline
// (no script, no external asset) and labelled for screen readers; the page
// has the same numbers as a table.
func funnelSVG(counts []StateCount) template.HTML {
	const (
		barH, gap, labelW, barW, numW = 26, 8, 130, 420, 70
	)
	max := 0
	for _, c := range counts {
		if c.N > max {
			max = c.N
		}
	}
	h := len(counts)*(barH+gap) + gap
	w := labelW + barW + numW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="funnel" class="funnel" role="img" aria-labelledby="funnel-title funnel-desc" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, w, h, w, h)
	b.WriteString(`<title id="funnel-title">Onboarding funnel: users by state</title><desc id="funnel-desc">`)
	for i, c := range counts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", template.HTMLEscapeString(string(c.State)), c.N)
	}
	b.WriteString(`</desc>`)
	for i, c := range counts {
		y := gap + i*(barH+gap)
		bw := 0
		if max > 0 {
			bw = c.N * barW / max
		}
		if c.N > 0 && bw < 2 {
			bw = 2
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="label">%s</text>`, labelW-8, y+barH*2/3, template.HTMLEscapeString(string(c.State)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" class="bar bar-%s"/>`, labelW, y, bw, barH, stateClass(c.State))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="num">%d</text>`, labelW+bw+6, y+barH*2/3, c.N)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped state names and integers
}

func stateClass(s connector.State) string {
	switch s {
	case connector.StateFailed, connector.StateExpired, connector.StateTerminated:
		return "bad"
	case connector.StateOnboarded:
		return "good"
	case connector.StateDisabled, connector.StateInactive:
		return "off"
	}
	return "flow"
}
