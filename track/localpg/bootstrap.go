package localpg

// The database inside the cluster: made on first start with PostGIS and
// the owner and runtime roles, and the connection strings and passwords
// each role reaches it with.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// bootstrap waits for connections, creates the database and PostGIS if missing, and sets the
// TCP password.
func (s *Server) bootstrap(ctx context.Context) error {
	conn, err := s.connectReady(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
		Database).Scan(&exists); err != nil {
		return fmt.Errorf("localpg: look up database %s: %w", Database, err)
	}
	if !exists {
		s.log.Info("creating database", "name", Database)
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize()); err != nil {
			return fmt.Errorf("localpg: create database %s: %w", Database, err)
		}
	}
	// ALTER ROLE takes no parameters; the password is hex, which needs no quoting. Setting it
	// on every start keeps it in step with Dir/tcp-password whatever happened in between.
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{User}.Sanitize()+
		" PASSWORD '"+s.password+"'"); err != nil {
		return fmt.Errorf("localpg: set tcp password: %w", err)
	}
	// The owner and application roles: ordinary logins, so that an application connected as
	// either is subject to the privileges of the database's objects (a superuser is not).
	for _, r := range roles {
		id := pgx.Identifier{r}.Sanitize()
		var has bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", r).Scan(&has); err != nil {
			return fmt.Errorf("localpg: look up role %s: %w", r, err)
		}
		if !has {
			s.log.Info("creating role", "name", r)
			if _, err := conn.Exec(ctx, "CREATE ROLE "+id); err != nil {
				return fmt.Errorf("localpg: create role %s: %w", r, err)
			}
		}
		// The owner inherits: it owns the schema public through the implicit membership in
		// pg_database_owner that owning the database gives. Set on every start, like the password.
		attrs := " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
		if r != OwnerUser {
			attrs = strings.Replace(attrs, " INHERIT", " NOINHERIT", 1)
		}
		if _, err := conn.Exec(ctx, "ALTER ROLE "+id+attrs+" PASSWORD '"+s.rolePasswords[r]+"'"); err != nil {
			return fmt.Errorf("localpg: set attributes and tcp password of %s: %w", r, err)
		}
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{Database}.Sanitize()+
		" OWNER TO "+pgx.Identifier{OwnerUser}.Sanitize()); err != nil {
		return fmt.Errorf("localpg: give database %s to %s: %w", Database, OwnerUser, err)
	}

	db, err := s.connectReady(ctx, Database)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	var available bool
	if err := db.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis')").Scan(&available); err != nil {
		return fmt.Errorf("localpg: look up postgis: %w", err)
	}
	if !available {
		return &notInstalledError{what: fmt.Sprintf("postgis not installed for PostgreSQL %d (%s)", s.bin.major, s.bin.dir)}
	}
	if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS postgis"); err != nil {
		return fmt.Errorf("localpg: create extension postgis: %w", err)
	}
	return nil
}

// connectReady connects to db over the socket, retrying while the server is still starting
// (an adopted server may be in crash recovery).
func (s *Server) connectReady(ctx context.Context, db string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.connString(db))
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("localpg: connect to %s: %w", db, err)
		// Polling matches pg_ctl -w, which checks every 100 ms as well.
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) connString(db string) string {
	return s.connStringAs(User, db)
}

func (s *Server) connStringAs(user, db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable",
		user, db, queryEscapePath(s.runDir), s.port)
}

// ConnStringAs is ConnString for role, [OwnerUser] or [AppUser] (or [User]).
func (s *Server) ConnStringAs(role string) string { return s.connStringAs(role, Database) }

// TCPConnStringAs is TCPConnString for role, [OwnerUser] or [AppUser], with its own password
// (Dir/tcp-password-ROLE).
func (s *Server) TCPConnStringAs(role string) string {
	pw := s.rolePasswords[role]
	if role == User {
		pw = s.password
	}
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", role, pw, s.port, Database)
}

// passwordFile holds the superuser's TCP password; passwordFile-ROLE each other role's.
const passwordFile = "tcp-password"

// loadPassword reads Dir/name, creating it on first use.
func (s *Server) loadPassword(name string) (string, error) {
	path := filepath.Join(s.dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("localpg: read tcp password: %w", err)
	}
	// 16 random bytes: 128 bits, hex-encoded so that it needs no escaping in SQL or URLs.
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("localpg: generate tcp password: %w", err)
	}
	pw := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("localpg: write tcp password: %w", err)
	}
	return pw, nil
}
