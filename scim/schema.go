package scim

import (
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// Schema URNs.
const (
	URNUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNTechPass   = "urn:ietf:params:scim:schemas:extension:techpass:2.0:User"
	URNPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	URNList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

func readOnlyString(name, desc string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
		Name: name, Description: optional.NewString(desc), CaseExact: true,
		Mutability: schema.AttributeMutabilityReadOnly(),
	}))
}

func readOnlyTime(name, desc string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{
		Name: name, Description: optional.NewString(desc),
		Mutability: schema.AttributeMutabilityReadOnly(),
	}))
}

// techPassSchema is the onboarding extension: what the client may write
// (seedRequested, mailboxType) and what passbridge reports (the rest).
func techPassSchema() schema.Schema {
	return schema.Schema{
		ID:          URNTechPass,
		Name:        optional.NewString("TechPassUser"),
		Description: optional.NewString("TechPass onboarding: the state of the user's Microsoft Entra B2B invitation, MFA registration, agreements and SEED provisioning."),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
				Name: "seedRequested", Description: optional.NewString("The user asks for SEED device provisioning."),
				Mutability: schema.AttributeMutabilityReadWrite(),
			})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "mailboxType", Description: optional.NewString("The kind of mailbox behind the e-mail address (e.g. LiteMail); checked by the sign-up policy, never returned."),
				Mutability: schema.AttributeMutabilityWriteOnly(), Returned: schema.AttributeReturnedNever(),
			})),
			readOnlyString("onboardingState", "pending, invited, redeemed, mfaRegistered, onboarded, expired, disabled, failed, conflict (the address belongs to an account passbridge did not invite; see lastError), inactive (disabled for inactivity) or terminated (deleted for inactivity)."),
			readOnlyTime("invitedAt", "When the invitation was created in the tenant."),
			readOnlyTime("expiresAt", "When an unfinished onboarding is terminated."),
			readOnlyTime("redeemedAt", "When the invitation was redeemed."),
			readOnlyTime("mfaRegisteredAt", "When an MFA method was first seen registered."),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "mfaMethods", Description: optional.NewString("Registered authentication methods other than password."),
				MultiValued: true, CaseExact: true, Mutability: schema.AttributeMutabilityReadOnly(),
			})),
			schema.ComplexCoreAttribute(schema.ComplexParams{
				Name: "agreements", Description: optional.NewString("Agreements the user has accepted."),
				MultiValued: true, Mutability: schema.AttributeMutabilityReadOnly(),
				SubAttributes: []schema.SimpleParams{
					schema.SimpleStringParams(schema.StringParams{Name: "name", CaseExact: true, Mutability: schema.AttributeMutabilityReadOnly()}),
					schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "acceptedAt", Mutability: schema.AttributeMutabilityReadOnly()}),
				},
			}),
			readOnlyTime("onboardedAt", "When every required agreement was accepted."),
			readOnlyString("seedState", "SEED provisioning: requested, provisioned or expired."),
			readOnlyTime("seedDueAt", "When SEED provisioning is due (business days)."),
			readOnlyString("guestId", "The object id of the guest user in Microsoft Entra ID."),
			readOnlyString("lastError", "Why onboarding failed, when it did."),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "accountType", Description: optional.NewString("public_officer, vendor or temp: lifecycle.accountTypes.<type> overrides the validity and the inactivity rule."),
				CanonicalValues: []string{"public_officer", "vendor", "temp"}, CaseExact: true,
				Mutability: schema.AttributeMutabilityReadWrite(),
			})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "lifecycleHold", Description: optional.NewString("While set (the reason: a test or training account, an investigation), no automatic reminder, disable or delete."),
				CaseExact: true, Mutability: schema.AttributeMutabilityReadWrite(),
			})),
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
				Name: "resendInvitation", Description: optional.NewString("PATCH true to send the invitation again (a new invitation); refused sooner than invitation.resendMinInterval after the last one, saying when it is allowed."),
				Mutability: schema.AttributeMutabilityWriteOnly(), Returned: schema.AttributeReturnedNever(),
			})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{
				Name: "remindersSent", Description: optional.NewString("Reminders sent for the current invitation (lifecycle.reminders)."),
				Type: schema.AttributeTypeInteger(), Mutability: schema.AttributeMutabilityReadOnly(),
			})),
			readOnlyTime("lastReminderAt", "When the last reminder was sent."),
			readOnlyTime("terminatedAt", "When the account was terminated: at the end of the validity (expired) or for inactivity (terminated)."),
			readOnlyTime("lastSignInAt", "The last successful sign-in (Graph signInActivity; Entra ID P1), as last read."),
			readOnlyString("disabledReason", "Why the account is disabled: client (active=false), expired (end of the validity) or inactivity."),
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
				Name: "deprovisionPending", Description: optional.NewString("Present and true while active=false is not yet confirmed by Microsoft Graph: " +
					"the guest may still sign in, onboardingState is not yet disabled, and passbridge keeps retrying (lastError says why it is held up)."),
				Mutability: schema.AttributeMutabilityReadOnly(),
			})),
		},
	}
}
