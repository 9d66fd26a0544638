package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	escim "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"

	"github.com/passbridge/passbridge/connector"
)

// etag renders a version as a weak entity tag (RFC 7232); the version is the
// store's counter, so it is the same on every replica.
func etag(v int64) string { return fmt.Sprintf(`W/"%d"`, v) }

// ifMatch parses If-Match. nil means no precondition ("*" or absent).
// Several tags are resolved against the current version by current.
func ifMatch(r *http.Request, current func() (int64, error)) (*int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil, nil
	}
	var versions []int64
	for _, part := range strings.Split(h, ",") {
		t := strings.TrimSpace(part)
		t = strings.TrimPrefix(t, "W/")
		t = strings.Trim(t, `"`)
		v, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			// A tag we never issued cannot match the current version.
			return nil, connector.ErrPrecondition
		}
		versions = append(versions, v)
	}
	if len(versions) == 1 {
		return &versions[0], nil
	}
	cur, err := current()
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		if v == cur {
			return &cur, nil
		}
	}
	return nil, connector.ErrPrecondition
}

func meta(created, modified time.Time, version int64) escim.Meta {
	c, m := created.UTC(), modified.UTC()
	return escim.Meta{Created: &c, LastModified: &m, Version: etag(version)}
}

func optString(s string) optional.String {
	if s == "" {
		return optional.String{}
	}
	return optional.NewString(s)
}

func timeAttr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func decodeDoc(raw json.RawMessage) doc {
	d := doc{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &d)
	}
	return d
}

// project applies attributes/excludedAttributes (RFC 7644 §3.9) to a
// resource's attributes. id, schemas and meta are added by the library after
// this and are always returned.
func project(r *http.Request, res escim.Resource, core string) escim.Resource {
	q := r.URL.Query()
	include := splitList(q.Get("attributes"))
	exclude := splitList(q.Get("excludedAttributes"))
	if len(include) == 0 && len(exclude) == 0 {
		return res
	}
	out := escim.ResourceAttributes{}
	if len(include) > 0 {
		for _, a := range include {
			copyPath(out, res.Attributes, a, core)
		}
		if !hasAttr(include, "externalId", core) {
			res.ExternalID = optional.String{}
		}
	} else {
		for k, v := range res.Attributes {
			out[k] = v
		}
		for _, a := range exclude {
			deletePath(out, a, core)
		}
		if hasAttr(exclude, "externalId", core) {
			res.ExternalID = optional.String{}
		}
	}
	res.Attributes = out
	return res
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func hasAttr(list []string, name, core string) bool {
	for _, a := range list {
		if strings.EqualFold(a, name) || strings.EqualFold(a, core+":"+name) {
			return true
		}
	}
	return false
}

// splitAttrPath splits "urn:…:User:name.givenName" into its schema URN (or
// ""), attribute and sub-attribute.
func splitAttrPath(p, core string) (urn, attr, sub string) {
	if strings.HasPrefix(strings.ToLower(p), "urn:") {
		i := strings.LastIndex(p, ":")
		urn, p = p[:i], p[i+1:]
		if strings.EqualFold(urn, core) {
			urn = ""
		}
	}
	attr, sub, _ = strings.Cut(p, ".")
	return urn, attr, sub
}

func copyPath(dst, src map[string]any, path, core string) {
	if k := findKey(src, path); strings.HasPrefix(strings.ToLower(path), "urn:") {
		if ext, ok := src[k].(map[string]any); ok {
			dst[k] = ext // a whole extension
			return
		}
	}
	urn, attr, sub := splitAttrPath(path, core)
	from, to := src, dst
	if urn != "" {
		k := findKey(src, urn)
		ext, ok := src[k].(map[string]any)
		if !ok {
			return
		}
		m, _ := dst[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
			dst[k] = m
		}
		from, to = ext, m
	}
	k := findKey(from, attr)
	v, ok := from[k]
	if !ok {
		return
	}
	if sub == "" {
		to[k] = v
		return
	}
	switch vv := v.(type) {
	case map[string]any:
		m, _ := to[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
			to[k] = m
		}
		if sk := findKey(vv, sub); vv[sk] != nil {
			m[sk] = vv[sk]
		}
	case []any:
		var list []any
		for _, e := range vv {
			if em, ok := e.(map[string]any); ok {
				if sk := findKey(em, sub); em[sk] != nil {
					list = append(list, map[string]any{sk: em[sk]})
				}
			}
		}
		if list != nil {
			to[k] = list
		}
	}
}

func deletePath(m map[string]any, path, core string) {
	if k := findKey(m, path); strings.HasPrefix(strings.ToLower(path), "urn:") {
		if _, ok := m[k].(map[string]any); ok {
			delete(m, k) // a whole extension
			return
		}
	}
	urn, attr, sub := splitAttrPath(path, core)
	if urn != "" {
		k := findKey(m, urn)
		ext, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		cp := make(map[string]any, len(ext))
		for kk, vv := range ext {
			cp[kk] = vv
		}
		m[k] = cp
		m = cp
	}
	k := findKey(m, attr)
	if sub == "" {
		delete(m, k)
		return
	}
	switch vv := m[k].(type) {
	case map[string]any:
		cp := make(map[string]any, len(vv))
		for kk, x := range vv {
			cp[kk] = x
		}
		delete(cp, findKey(cp, sub))
		m[k] = cp
	case []any:
		list := make([]any, 0, len(vv))
		for _, e := range vv {
			if em, ok := e.(map[string]any); ok {
				cp := make(map[string]any, len(em))
				for kk, x := range em {
					cp[kk] = x
				}
				delete(cp, findKey(cp, sub))
				list = append(list, cp)
			}
		}
		m[k] = list
	}
}

type ctxKey int

const (
	filterKey ctxKey = iota
	actorKey
	clientKey // the request's client (auth.go)
)

// actor names who made a request, for the event log ("scim:<token name>").
func actor(r *http.Request) string {
	if a, ok := r.Context().Value(actorKey).(string); ok {
		return a
	}
	return "scim"
}

// requestClient is the request's client (its token's name, scopes and
// ownUsersOnly); the zero client, unrestricted by owner, outside ServeHTTP.
func requestClient(r *http.Request) client {
	c, _ := r.Context().Value(clientKey).(client)
	return c
}

func listFilter(r *http.Request) *connector.Filter {
	f, _ := r.Context().Value(filterKey).(*connector.Filter)
	return f
}
