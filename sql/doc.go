// Package sql holds fleetmon's database schema as versioned SQL migrations,
// embedded into the binary. It contains no Go logic beyond the embed: the
// migration runner lives in package track, and the schema is documented for
// people who query it directly in README.md beside this file.
package sql

import "embed"

// Migrations holds the files migrations/NNNN_name.sql, applied in order of
// NNNN. A migration, once released, is never edited: changes come as a new file.
//
//go:embed migrations/*.sql
var Migrations embed.FS
