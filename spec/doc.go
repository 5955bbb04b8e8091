// Package spec loads and validates an OCI bundle's config.json for sandlock-runtime and
// translates what the runtime spec asks for (namespaces, hostname, sysctls) into the
// confinement sandlock-runtime provides instead, refusing what it cannot honour.
//
// It is the leaf of the dependency graph: it imports no other package of this module.
//
//	s, err := spec.LoadBundle("/path/to/bundle")
//	if err != nil { ... }
//	iso, err := spec.Translate(s) // e.g. iso.NoNetwork for a network namespace without a path
package spec
