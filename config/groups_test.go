package config

import (
	"reflect"
	"testing"
)

// groups.map entries are the Entra id (every client) or {id, clients}.
func TestLoadGroupMapClients(t *testing.T) {
	const eng, vend = "5e8c3a1f-2b9d-4f7e-a6c4-1d0b9e8f7a6c", "7b1d4f9e-8c2a-4e6b-9f3d-5a7c2e1b0d9f"
	c, err := Load(writeFile(t, `
groups:
  map:
    Engineering: `+eng+`
    "SEED Users":
      id: `+vend+`
      clients: [techbiz, portal]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Groups.Map["Engineering"] != eng || c.Groups.Map["SEED Users"] != vend || len(c.Groups.Map) != 2 {
		t.Errorf("groups.map = %v", c.Groups.Map)
	}
	if want := map[string][]string{"SEED Users": {"techbiz", "portal"}}; !reflect.DeepEqual(c.Groups.Clients, want) {
		t.Errorf("groups clients = %v, want %v", c.Groups.Clients, want)
	}
	if !c.Groups.Create {
		t.Error("groups.create default is true")
	}

	_, err = Load(writeFile(t, `
groups:
  map:
    "SEED Users":
      id: `+vend+`
      client: [techbiz]
`), nil)
	assertProblems(t, err, []want{{key: "groups.map[SEED Users].client", msg: `did you mean "clients"`}})

	c, err = Load(writeFile(t, "groups:\n  create: false\n"), nil)
	if err != nil || c.Groups.Create {
		t.Errorf("groups.create: false → %v, %v", c.Groups.Create, err)
	}
	c, err = Load("", []string{"PASSBRIDGE_GROUPS_CREATE=false"})
	if err != nil || c.Groups.Create {
		t.Errorf("PASSBRIDGE_GROUPS_CREATE=false → %v, %v", c.Groups.Create, err)
	}
}

// groups.map[name].clients name scim.tokens entries.
func TestValidateGroupClients(t *testing.T) {
	c := validConfig()
	c.Groups.Map = map[string]string{"SEED Users": guidA}
	c.Groups.Clients = map[string][]string{"SEED Users": {"techbiz", "techbix"}}
	assertProblems(t, c.Validate(), []want{{key: "groups.map[SEED Users].clients[1]", msg: `"techbix" is not the name of a scim.tokens entry`, hint: "scim.tokens[].name"}})
}
