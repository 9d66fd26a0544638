package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// opSignInActivity reads signInActivity (the inactivity rule).
const opSignInActivity = "signInActivity"

var _ connector.SignInReader = (*Client)(nil)

// SignInActivity reads each user's signInActivity.lastSuccessfulSignInDateTime
// through $batch (GET /users/{id}?$select=id,signInActivity). Graph keeps it
// only with Entra ID P1 and AuditLog.Read.All, and it lags hours. A 403 for
// any user (Authentication_RequestFromNonPremiumTenantOrB2CTenant, or the
// missing permission) is the tenant's answer for all of them: it is
// returned as the call's error (Permanent), so the caller reports the rule
// unavailable instead of failing user by user.
// Source: https://learn.microsoft.com/graph/api/resources/signinactivity
func (c *Client) SignInActivity(ctx context.Context, ids []string) (map[string]connector.SignInResult, error) {
	out := make(map[string]connector.SignInResult, len(ids))
	var forbidden error
	err := c.batchGet(ctx, opSignInActivity, ids,
		func(id string) string { return "/users/" + url.PathEscape(id) + "?$select=id,signInActivity" },
		func(id string, body []byte) error {
			var b struct {
				SignInActivity *struct {
					LastSuccessful *time.Time `json:"lastSuccessfulSignInDateTime"`
				} `json:"signInActivity"`
			}
			if err := json.Unmarshal(body, &b); err != nil {
				return err
			}
			var r connector.SignInResult
			if b.SignInActivity != nil && b.SignInActivity.LastSuccessful != nil && !b.SignInActivity.LastSuccessful.IsZero() {
				t := b.SignInActivity.LastSuccessful.UTC()
				r.LastSuccessfulSignIn = &t
			}
			out[id] = r
			return nil
		},
		func(id string, err error) {
			var de *connector.DirectoryError
			if errors.As(err, &de) && de.Status == http.StatusForbidden && forbidden == nil {
				forbidden = err
			}
			out[id] = connector.SignInResult{Err: err}
		})
	if err != nil {
		return nil, err
	}
	if forbidden != nil {
		return nil, forbidden
	}
	return out, nil
}
