package config

import (
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func TestLifecycleDefaultsYAMLAndEnv(t *testing.T) {
	d := Default().LifecycleOptions()
	if d.RemindersAfter != 552*time.Hour || d.RemindersEvery != 24*time.Hour || d.DeleteAfterTermination != 120*time.Hour ||
		d.ResendMinInterval != 24*time.Hour || d.Inactivity.RemindAfter != 1440*time.Hour || d.Inactivity.DisableAfter != 2160*time.Hour ||
		d.Inactivity.TerminateAfter != 4320*time.Hour || d.GraceAfterChange != 120*time.Hour || d.TrustHomeTenantMFA {
		t.Errorf("defaults %+v", d)
	}
	p := writeFile(t, `
invitation:
  redirectURL: "https://myapps.microsoft.com"
  resendMinInterval: 1h
lifecycle:
  deleteAfterTermination: 0s
  accountTypes:
    vendor:
      validity: 240h
    temp:
      inactivity:
        remindAfter: 480h
        disableAfter: 720h
        terminateAfter: 1440h
mfa:
  trustHomeTenant: true
`)
	cfg, err := LoadValidated(p, []string{"PASSBRIDGE_LIFECYCLE_GRACEAFTERCHANGE=48h"})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.LifecycleOptions()
	if o.DeleteAfterTermination != 0 || o.ResendMinInterval != time.Hour || !o.TrustHomeTenantMFA ||
		o.AccountTypes[connector.AccountVendor].Validity != 240*time.Hour ||
		o.AccountTypes[connector.AccountTemp].Inactivity.DisableAfter != 720*time.Hour || o.RemindersAfter != 552*time.Hour {
		t.Errorf("options %+v", o)
	}
	if o.GraceAfterChange != 48*time.Hour {
		t.Errorf("env override of lifecycle.graceAfterChange not applied (%s)", o.GraceAfterChange)
	}
}

func TestLifecycleValidation(t *testing.T) {
	c := validConfig()
	c.Lifecycle.AccountTypes = AccountTypes{"contractor": {Validity: Duration(time.Hour)}}
	c.Lifecycle.Inactivity.DisableAfter = Duration(100 * time.Hour) // before remindAfter (1440h)
	c.Lifecycle.Reminders.Every = Duration(-time.Hour)
	err := c.Validate()
	keys := map[string]string{}
	for _, p := range problemsOf(t, err) {
		keys[p.Key] = p.Message + " " + p.Hint
	}
	for _, k := range []string{"lifecycle.accountTypes.contractor", "lifecycle.inactivity.disableAfter", "lifecycle.reminders.every"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("no problem for %s: %v", k, err)
		}
	}
	if !strings.Contains(keys["lifecycle.accountTypes.contractor"], "public_officer") {
		t.Errorf("account type problem does not list the types: %q", keys["lifecycle.accountTypes.contractor"])
	}
}
