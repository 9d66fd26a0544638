// Package config loads, defaults and validates passbridge's configuration.
//
// A configuration is built in layers, each overriding the one before:
//
//  1. the defaults of the contract (see Default),
//  2. the YAML file given with --config (or passbridge.yaml when present; see
//     ResolvePath); unknown keys are reported with their key path and a
//     suggestion,
//  3. ${NAME} references in the file's string values, expanded from the
//     environment ("$$" is a literal "$"); a reference to an unset variable is a
//     problem,
//  4. environment variables PASSBRIDGE_<SECTION>_<KEY> (for example
//     PASSBRIDGE_SERVER_LISTEN or PASSBRIDGE_AZURE_CLIENTSECRET), matched
//     case-insensitively against the YAML key names. Their values are taken
//     literally. Lists are comma-separated; a list of records separates the
//     fields of a record with ":" in the order of the YAML keys
//     (PASSBRIDGE_SCIM_TOKENS="ci:<sha256>,portal:<sha256>",
//     PASSBRIDGE_AGREEMENTS="Terms of Use:<id>:always"; a record's fields
//     that are not strings, such as scim.tokens[].scopes and .ownUsersOnly,
//     keep their defaults and need the file); a map is written as
//     key=value pairs (PASSBRIDGE_GROUPS_MAP="Engineering=<group id>").
//     An unknown PASSBRIDGE_* variable is a problem (PASSBRIDGE_CONFIG is left
//     to the command line).
//
// Load does all of that and Validate checks the result. Both collect every
// problem they find into one *Problems error, each with the YAML key path, what
// is wrong and how to fix it, so that an administrator can fix a configuration
// in one go.
//
// The package also makes SCIM bearer tokens (NewToken, HashToken).
//
// It reads files and the environment slice it is given, and nothing else: it
// must not reach the network, read os.Environ itself, or keep global mutable
// state.
package config
