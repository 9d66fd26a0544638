// Package scim is passbridge's SCIM 2.0 (RFC 7643/7644) HTTP surface at
// /scim/v2: bearer authentication, request limits, the elimity-com/scim server
// for routing, schema validation and PATCH parsing, the mapping between SCIM
// attributes and connector types, and SCIM error bodies.
//
// Around the library it adds what the library leaves out: a body size limit,
// authentication, ETag/If-Match, attributes/excludedAttributes, filters
// translated into connector.Filter (so that stores evaluate them in SQL),
// field-naming error details, and a recover middleware. It must not call
// Graph or SQL directly: everything goes through connector.Service.
package scim
