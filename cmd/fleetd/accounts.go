package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"fleetmon/api"
	"fleetmon/track"
)

// cmdUsersAdd creates a user and prints its one-time password, last.
func cmdUsersAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("users add", stderr)
	fs := c.fs
	name := fs.String("name", "", "user name (letters, digits, _.@-; at most 64)")
	roleName := fs.String("role", "", "admin, supervisor, inspector or staff")
	unitPath := fs.String("unit", "", "the user's unit as a path of names, e.g. 湖北省/黄石市; empty puts an admin at the top")
	if err := fs.Parse(args); err != nil {
		return err
	}
	role, ok := api.ParseRole(*roleName)
	if !ok || *name == "" || fs.NArg() > 0 {
		return usageError{"users add takes --name NAME --role admin|supervisor|inspector [--unit PATH]"}
	}
	if *unitPath == "" && role != api.RoleAdmin {
		return usageError{fmt.Sprintf("users add: a %s needs --unit", role)}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	var unit track.Unit
	if *unitPath != "" {
		if unit, err = track.NewStore(db.pool).UnitByPath(ctx, strings.Trim(*unitPath, "/")); err != nil {
			return err
		}
	}
	u, otp, err := api.NewAccounts(db.pool).CreateUser(ctx, nil, "", *name, role, unit.ID)
	if err != nil {
		return err
	}
	where := "the top"
	if u.UnitPath != "" {
		where = u.UnitPath
	}
	fmt.Fprintf(stdout, "created %s %s at %s; one-time password (change it at first login): %s\n", u.Role, u.Name, where, otp)
	return nil
}

// cmdTokenCreate creates an API token and prints it, last.
func cmdTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("token create", stderr)
	fs := c.fs
	user := fs.String("user", "", "the user the token acts as")
	label := fs.String("label", "", "what the token is for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" || fs.NArg() > 0 {
		return usageError{"token create takes --user NAME [--label TEXT]"}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	id, tok, err := api.NewAccounts(db.pool).CreateToken(ctx, *user, *label)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d for %s (shown once; revoke with fleetd token revoke %d): %s\n", id, *user, id, tok)
	return nil
}

func cmdTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("token revoke", stderr)
	fs := c.fs
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"token revoke takes one token ID"}
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil {
		return usageError{fmt.Sprintf("token revoke: %q is not a token id", fs.Arg(0))}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	if err := api.NewAccounts(db.pool).RevokeToken(ctx, id); err != nil {
		if errors.Is(err, track.ErrNotFound) {
			return fmt.Errorf("no active token %d", id)
		}
		return err
	}
	fmt.Fprintf(stdout, "revoked token %d\n", id)
	return nil
}
