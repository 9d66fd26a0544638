package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/passbridge/passbridge/connector"
)

// maxBatch is Graph's limit of requests in one $batch.
// Source: https://learn.microsoft.com/graph/json-batching#batch-size-limitations
const maxBatch = 20

type batchReq struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
}

type batchResp struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

type odataErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// sendBatch posts one $batch of GETs and returns the answers by step id.
// The request goes through the adapter (authentication, middleware); the
// body is read raw so that every step's status and Retry-After are seen
// before its body is parsed.
func (c *Client) sendBatch(ctx context.Context, reqs []batchReq) (map[string]batchResp, error) {
	payload, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, fmt.Errorf("graph: encode batch: %w", err)
	}
	info := abs.NewRequestInformation()
	info.Method = abs.POST
	info.UrlTemplate = "{+baseurl}/$batch"
	info.PathParameters["baseurl"] = c.adapter.GetBaseUrl()
	info.Headers.TryAdd("Accept", "application/json")
	info.SetStreamContentAndContentType(payload, "application/json")
	raw, err := c.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping)
	if err != nil {
		return nil, err
	}
	b, _ := raw.([]byte)
	var out struct {
		Responses []batchResp `json:"responses"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("graph: decode batch answer: %w", err)
	}
	m := make(map[string]batchResp, len(out.Responses))
	for _, r := range out.Responses {
		m[r.ID] = r
	}
	return m, nil
}

func headerLookup(h map[string]string) func(string) string {
	return func(k string) string {
		for hk, v := range h {
			if strings.EqualFold(hk, k) {
				return v
			}
		}
		return ""
	}
}

// batchGet reads path(id) for every id in $batch requests of 20. A step
// answered 429 or 5xx is retried on its own (not the whole batch), after
// the longest Retry-After among them, up to MaxRetries times. onOK gets
// each successful body; onErr each final failure.
// Source: https://learn.microsoft.com/graph/throttling#throttling-and-batching
func (c *Client) batchGet(ctx context.Context, op string, ids []string, path func(id string) string,
	onOK func(id string, body []byte) error, onErr func(id string, err error)) error {
	uniq := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for start := 0; start < len(uniq); start += maxBatch {
		chunk := uniq[start:min(start+maxBatch, len(uniq))]
		for attempt := 0; len(chunk) > 0; attempt++ {
			reqs := make([]batchReq, len(chunk))
			byStep := make(map[string]string, len(chunk))
			for i, id := range chunk {
				step := strconv.Itoa(i + 1)
				reqs[i] = batchReq{ID: step, Method: http.MethodGet, URL: path(id)}
				byStep[step] = id
			}
			var answers map[string]batchResp
			err := c.do(ctx, op, c.directory, len(reqs), retryAll, func(ctx context.Context) error {
				var err error
				answers, err = c.sendBatch(ctx, reqs)
				return err
			})
			if err != nil {
				return err
			}
			var again []string
			var wait time.Duration
			var last *connector.DirectoryError
			for _, rq := range reqs {
				id := byStep[rq.ID]
				a, ok := answers[rq.ID]
				if !ok {
					onErr(id, &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "no answer for this request in the $batch response"})
					continue
				}
				if a.Status >= 200 && a.Status < 300 {
					if err := onOK(id, a.Body); err != nil {
						onErr(id, &connector.DirectoryError{Class: connector.Transient, Op: op, Status: a.Status, Message: "unreadable answer", Err: err})
					}
					continue
				}
				var eb odataErrorBody
				_ = json.Unmarshal(a.Body, &eb)
				de := c.fromHTTP(op, httpFailure{status: a.Status, code: eb.Error.Code, message: eb.Error.Message, header: headerLookup(a.Headers)})
				if a.Status == http.StatusTooManyRequests || a.Status >= 500 {
					again = append(again, id)
					wait = max(wait, de.RetryAfter)
					last = de
					continue
				}
				onErr(id, de)
			}
			if len(again) == 0 {
				break
			}
			d, ok := c.backoff(attempt, wait)
			if attempt >= c.maxRetries || !ok {
				for _, id := range again {
					onErr(id, last)
				}
				break
			}
			c.log.DebugContext(ctx, "graph batch retry", "op", op, "requests", len(again), "wait", d)
			if err := c.sleep(ctx, d); err != nil {
				return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "cancelled", Err: err}
			}
			chunk = again
		}
	}
	return nil
}

type userBody struct {
	ID                string     `json:"id"`
	Mail              string     `json:"mail"`
	ExternalUserState string     `json:"externalUserState"`
	StateChangedAt    *time.Time `json:"externalUserStateChangeDateTime"`
	AccountEnabled    *bool      `json:"accountEnabled"`
	UserType          string     `json:"userType"`
	CreationType      string     `json:"creationType"`
	Created           *time.Time `json:"createdDateTime"`
}

// GetGuests reads many users through $batch (GET /users/{id} with
// $select); every id gets a result. A deleted user is NotFound; a user
// invited moments ago may answer 404 Directory_ObjectNotFound, which is
// Transient (the caller retries later). The error is non-nil only when a
// whole $batch request failed.
// Source: https://learn.microsoft.com/graph/api/user-get
func (c *Client) GetGuests(ctx context.Context, ids []string) (map[string]connector.GuestResult, error) {
	out := make(map[string]connector.GuestResult, len(ids))
	sel := strings.Join(guestSelect, ",")
	err := c.batchGet(ctx, opGetGuests, ids,
		func(id string) string { return "/users/" + url.PathEscape(id) + "?$select=" + sel },
		func(id string, body []byte) error {
			var u userBody
			if err := json.Unmarshal(body, &u); err != nil {
				return err
			}
			g := connector.Guest{ID: u.ID, Mail: u.Mail, ExternalUserState: u.ExternalUserState, AccountEnabled: deref(u.AccountEnabled),
				UserType: u.UserType, CreationType: u.CreationType}
			if u.Created != nil {
				t := u.Created.UTC()
				g.Created = &t
			}
			if u.StateChangedAt != nil {
				t := u.StateChangedAt.UTC()
				g.StateChangedAt = &t
			}
			if g.ID == "" {
				g.ID = id
			}
			out[id] = connector.GuestResult{Guest: g}
			return nil
		},
		func(id string, err error) { out[id] = connector.GuestResult{Err: err} })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuthenticationMethods reads each user's registered methods through
// $batch; the result lists the @odata.type short names. A password method
// is always present; MFA is any other method.
// Source: https://learn.microsoft.com/graph/api/authentication-list-methods
func (c *Client) AuthenticationMethods(ctx context.Context, ids []string) (map[string]connector.MethodsResult, error) {
	out := make(map[string]connector.MethodsResult, len(ids))
	err := c.batchGet(ctx, opAuthMethods, ids,
		func(id string) string { return "/users/" + url.PathEscape(id) + "/authentication/methods" },
		func(id string, body []byte) error {
			var b struct {
				Value []struct {
					Type string `json:"@odata.type"`
				} `json:"value"`
			}
			if err := json.Unmarshal(body, &b); err != nil {
				return err
			}
			methods := make([]string, 0, len(b.Value))
			for _, m := range b.Value {
				methods = append(methods, strings.TrimPrefix(m.Type, "#microsoft.graph."))
			}
			out[id] = connector.MethodsResult{Methods: methods}
			return nil
		},
		func(id string, err error) { out[id] = connector.MethodsResult{Err: err} })
	if err != nil {
		return nil, err
	}
	return out, nil
}
