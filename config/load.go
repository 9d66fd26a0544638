package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/passbridge/passbridge/connector"
)

// ResolvePath returns the configuration file to load: flagValue when it is
// set, else DefaultPath when that file exists, else "" (defaults and the
// environment only).
func ResolvePath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	_, err := os.Stat(DefaultPath)
	switch {
	case err == nil:
		return DefaultPath, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	default:
		return "", fmt.Errorf("config: look for %s: %w", DefaultPath, err)
	}
}

// Load builds the configuration from the defaults, the YAML file at path
// (skipped when path is ""), ${NAME} references in the file expanded from
// env, and PASSBRIDGE_<SECTION>_<KEY> overrides from env. env holds
// "NAME=value" entries, as os.Environ returns them.
//
// Load does not validate the result; call Validate (or use LoadValidated).
// When the file or the environment has problems (unknown keys, values of the
// wrong type, unset ${NAME} variables), Load returns a *Problems error
// together with a Config filled in as far as possible, so that Validate can
// add its own problems to the list. Any other error (the file cannot be read
// or is not YAML) comes with a nil Config.
func Load(path string, env []string) (*Config, error) {
	cfg := Default()
	// reconcile.lease left out follows reconcile.interval (below).
	cfg.Reconcile.Lease = 0
	var ps Problems
	vars := envMap(env)

	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("config: %s is not valid YAML: %w", path, err)
		}
		if len(doc.Content) > 0 {
			decodeNode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "", &ps)
		}
	}

	overrides := parseEnv(env, &ps)
	expandAll(reflect.ValueOf(cfg).Elem(), "", vars, overrides, &ps)
	for _, o := range overrides {
		o.apply(cfg, &ps)
	}
	if cfg.Reconcile.Lease == 0 {
		cfg.Reconcile.Lease = Duration(connector.DefaultReconcileLeaseFor(cfg.Reconcile.Interval.D()))
	}
	return cfg, ps.err()
}

// LoadValidated loads like Load and validates like Validate, and returns
// every problem of both in one *Problems error. The Config is returned with a
// *Problems error too (nil for other errors), e.g. to print it redacted.
func LoadValidated(path string, env []string, opts ...ValidateOption) (*Config, error) {
	cfg, err := Load(path, env)
	if cfg == nil {
		return nil, err
	}
	var ps Problems
	if err := ps.merge(err); err != nil {
		return nil, err
	}
	// A key that could not be loaded is reported once, not again by
	// Validate (an unexpanded "${NAME}" is not a URL either).
	loadKeys := map[string]bool{}
	for _, p := range ps.List {
		loadKeys[p.path] = true
	}
	var vs Problems
	if err := vs.merge(cfg.Validate(opts...)); err != nil {
		return cfg, err
	}
	for _, p := range vs.List {
		if !loadKeys[p.path] {
			ps.List = append(ps.List, p)
		}
	}
	ps.sortBySection()
	return cfg, ps.err()
}

// envMap turns "NAME=value" entries into a map; a later entry wins.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		m[k] = v
	}
	return m
}

// yamlName returns the YAML key of a struct field ("" when it has none).
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldKeys returns the YAML keys of struct type t, in declaration order.
func fieldKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			keys = append(keys, n)
		}
	}
	return keys
}

func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

var (
	durationType    = reflect.TypeFor[Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// secretKey tells whether the value at a key path may be a secret (a key
// named like "secret" or "password", e.g. azure.clientSecret): problems with
// it never quote the value, since problems are printed and logged.
func secretKey(key string) bool {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		key = key[i+1:]
	}
	k := strings.ToLower(key)
	return strings.Contains(k, "secret") || strings.Contains(k, "password")
}

// hiddenValue stands for a secret's value in a problem.
const hiddenValue = "value (not shown: it may be a secret)"

func kindName(n *yaml.Node) string { return describeNode(n, false) }

// describeNode names the kind of n; hide leaves a scalar's value out.
func describeNode(n *yaml.Node, hide bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping of keys"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if hide {
			return hiddenValue
		}
		return fmt.Sprintf("value %q", n.Value)
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// nodeRewriter is a section that accepts a richer form of one of its keys
// than the key's Go type (groups.map entries as {id, clients}): it rewrites
// its node into the plain form before decoding, keeping what it took out.
type nodeRewriter interface {
	rewriteNode(n *yaml.Node, key string, ps *Problems) *yaml.Node
}

// decodeNode decodes n into v, reporting unknown keys and values of the
// wrong type with their key path instead of stopping at the first.
func decodeNode(n *yaml.Node, v reflect.Value, key string, ps *Problems) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if v.CanAddr() && v.Addr().CanInterface() {
		if r, ok := v.Addr().Interface().(nodeRewriter); ok {
			n = r.rewriteNode(n, key, ps)
		}
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	hide := secretKey(key)
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if isNull {
			return // keep the default
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			msg := yamlErrText(err)
			if hide {
				msg = "cannot be read: " + hiddenValue
			}
			ps.addLine(n.Line, key, msg, "")
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if isNull {
			return
		}
		if n.Kind != yaml.MappingNode {
			ps.addLine(n.Line, key, "expected a mapping of keys, found a "+describeNode(n, hide),
				"write the section's keys indented under it")
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			k := kn.Value
			path := joinKey(key, k)
			if seen[k] {
				ps.addLine(kn.Line, path, "key appears more than once", "keep one of them")
				continue
			}
			seen[k] = true
			f, ok := fieldByKey(v, k)
			if !ok {
				msg, hint := "unknown key", ""
				keys := fieldKeys(v.Type())
				if s := suggest(k, keys); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					hint = "keys allowed here: " + strings.Join(keys, ", ")
				}
				ps.addLine(kn.Line, path, msg, hint)
				continue
			}
			decodeNode(vn, f, path, ps)
		}
	case reflect.Slice:
		if isNull {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.SequenceNode {
			ps.addLine(n.Line, key, "expected a list, found a "+describeNode(n, hide),
				`write one "- item" per line, or [a, b]`)
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			decodeNode(e, s.Index(i), fmt.Sprintf("%s[%d]", key, i), ps)
		}
		v.Set(s)
	case reflect.Map:
		if isNull {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.MappingNode {
			ps.addLine(n.Line, key, "expected a mapping, found a "+describeNode(n, hide),
				"write one \"name: value\" per line, indented under it")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			path := fmt.Sprintf("%s[%s]", key, kn.Value)
			if m.MapIndex(reflect.ValueOf(kn.Value)).IsValid() {
				ps.addLine(kn.Line, path, "key appears more than once", "keep one of them")
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			decodeNode(vn, ev, path, ps)
			m.SetMapIndex(reflect.ValueOf(kn.Value), ev)
		}
		v.Set(m)
	default:
		if isNull {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.ScalarNode {
			ps.addLine(n.Line, key, fmt.Sprintf("expected %s, found a %s", describeKind(v.Type()), describeNode(n, hide)), "")
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			if hide {
				// e.g. a !!int tag on a text: the value is the secret.
				ps.addLine(n.Line, key, fmt.Sprintf("expected %s, found a %s %s", describeKind(v.Type()), n.Tag, hiddenValue),
					"quote the value, without a ! tag")
				return
			}
			ps.addLine(n.Line, key, fmt.Sprintf("expected %s, found %q", describeKind(v.Type()), n.Value), "")
		}
	}
}

func describeKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.String:
		return "a text value"
	}
	return "a " + t.Kind().String()
}

// yamlErrText strips yaml's "yaml: unmarshal errors:\n  line N:" wrapping.
func yamlErrText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return te.Errors[0]
	}
	return err.Error()
}

// envOverride is one PASSBRIDGE_* variable that sets one key.
type envOverride struct {
	name  string // the variable, as written
	key   string // the YAML key path it sets
	value string
}

// envKeys returns every key that an environment variable can set: the
// leaves of Config (scalars, durations, lists and maps), by env name.
func envKeys() map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, key string)
	walk = func(t reflect.Type, key string) {
		for i := range t.NumField() {
			f := t.Field(i)
			n := yamlName(f)
			if n == "" {
				continue
			}
			k := joinKey(key, n)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, k)
				continue
			}
			out[envName(k)] = k
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

// envName returns the variable that sets key ("server.listen" →
// "PASSBRIDGE_SERVER_LISTEN").
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// reservedEnv are PASSBRIDGE_* variables that are not keys but are not
// mistakes either.
var reservedEnv = map[string]bool{"PASSBRIDGE_CONFIG": true}

func parseEnv(env []string, ps *Problems) []envOverride {
	keys := envKeys()
	byName := map[string]envOverride{}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		upper := strings.ToUpper(name)
		// PASSBRIDGE_TEST_* belong to the test suite (PASSBRIDGE_TEST_POSTGRES),
		// which CI exports to every process it starts.
		if !strings.HasPrefix(upper, EnvPrefix) || reservedEnv[upper] || strings.HasPrefix(upper, EnvPrefix+"TEST_") {
			continue
		}
		key, ok := keys[upper]
		if !ok {
			names := make([]string, 0, len(keys))
			for n := range keys {
				names = append(names, n)
			}
			sort.Strings(names)
			msg, hint := "unknown variable", "variables are PASSBRIDGE_<SECTION>_<KEY>, e.g. PASSBRIDGE_SERVER_LISTEN; unset it"
			if s := suggest(upper, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
				hint = ""
			}
			ps.add(name, msg, hint)
			continue
		}
		byName[upper] = envOverride{name: name, key: key, value: value} // a later entry wins
	}
	out := make([]envOverride, 0, len(byName))
	for _, o := range byName {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// lookupKey returns the field of cfg at a leaf key path ("server.listen").
func lookupKey(cfg *Config, key string) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for part := range strings.SplitSeq(key, ".") {
		v, _ = fieldByKey(v, part)
	}
	return v
}

func (o envOverride) apply(cfg *Config, ps *Problems) {
	v := lookupKey(cfg, o.key)
	if err := setFromString(v, o.value); err != nil {
		ps.List = append(ps.List, Problem{Key: o.name, Message: fmt.Sprintf("cannot set %s: %v", o.key, err), path: o.key})
	}
}

// setFromString sets a leaf from an environment value.
func setFromString(v reflect.Value, s string) error {
	if v.Type() == durationType {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		items := splitList(s)
		out := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			e := out.Index(i)
			if e.Kind() == reflect.Struct {
				if err := setRecord(e, it); err != nil {
					return fmt.Errorf("item %d: %w", i+1, err)
				}
				continue
			}
			if err := setFromString(e, it); err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
		}
		v.Set(out)
	case reflect.Map:
		items := splitList(s)
		m := reflect.MakeMapWithSize(v.Type(), len(items))
		for i, it := range items {
			k, val, ok := strings.Cut(it, "=")
			if !ok {
				return fmt.Errorf("item %d (%q) is not name=value", i+1, it)
			}
			m.SetMapIndex(reflect.ValueOf(strings.TrimSpace(k)), reflect.ValueOf(strings.TrimSpace(val)))
		}
		v.Set(m)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// setRecord sets a struct's string fields from "a:b:c", fields in order.
// Fields of other kinds (scim.tokens[].scopes and .ownUsersOnly) have no
// place in the record and keep their defaults: "name:sha256" stays valid.
func setRecord(v reflect.Value, s string) error {
	keys := recordKeys(v.Type())
	parts := strings.SplitN(s, ":", len(keys))
	if len(parts) != len(keys) {
		// The value is not quoted: it may be a secret pasted in the wrong place.
		return fmt.Errorf("has %d fields separated by \":\", want %s", len(parts), strings.Join(keys, ":"))
	}
	for i, k := range keys {
		f, _ := fieldByKey(v, k)
		if err := setFromString(f, strings.TrimSpace(parts[i])); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// expandAll expands ${NAME} in every string of v, except under keys that an
// environment override replaces anyway.
func expandAll(v reflect.Value, key string, vars map[string]string, overrides []envOverride, ps *Problems) {
	for _, o := range overrides {
		if key == o.key || strings.HasPrefix(key, o.key+".") || strings.HasPrefix(key, o.key+"[") {
			return
		}
	}
	switch v.Kind() {
	case reflect.String:
		s, err := expand(v.String(), vars)
		if err != nil {
			var me *missingVarError
			var be *badRefError
			msg, hint := err.Error(), `write "$$" for a literal "$"`
			switch {
			case errors.As(err, &me):
				hint = fmt.Sprintf("set %s in the environment, or write the value here", me.name)
			case errors.As(err, &be) && secretKey(key):
				// What is between the braces may be part of the secret.
				msg = `has a "${…}" whose content is not a variable name (letters, digits and _); it is not shown, since it may be a secret`
			}
			ps.add(key, msg, hint)
			return
		}
		v.SetString(s)
	case reflect.Struct:
		if v.Type() == durationType {
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			if n := yamlName(t.Field(i)); n != "" {
				expandAll(v.Field(i), joinKey(key, n), vars, overrides, ps)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandAll(v.Index(i), fmt.Sprintf("%s[%d]", key, i), vars, overrides, ps)
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.String {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			expandAll(e, fmt.Sprintf("%s[%s]", key, k.String()), vars, overrides, ps)
			v.SetMapIndex(k, e)
		}
	}
}

type missingVarError struct{ name string }

func (e *missingVarError) Error() string {
	return fmt.Sprintf("refers to ${%s}, which is not set in the environment", e.name)
}

// badRefError is a "${…}" whose content is not a variable name.
type badRefError struct{ ref string }

func (e *badRefError) Error() string {
	return fmt.Sprintf("has ${%s}, which is not a variable name (letters, digits and _)", e.ref)
}

// expand replaces ${NAME} with the value of NAME and "$$" with "$"; any
// other "$" is kept.
func expand(s string, vars map[string]string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`has "${" without a closing "}"`)
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				return "", &badRefError{ref: name}
			}
			val, ok := vars[name]
			if !ok {
				return "", &missingVarError{name: name}
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// recordKeys are the keys of t's string fields, in order.
func recordKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" && t.Field(i).Type.Kind() == reflect.String {
			keys = append(keys, n)
		}
	}
	return keys
}
