package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// ResetPassword gives the user name a new one-time password, which it
// returns: the user must change it at the next login, as after creation. It
// ends the user's sessions and lifts a lock-out of failed logins on the name,
// so that an administrator who lost the password can log in again at once.
// actor (nil: the console) is recorded in the audit log, in the same
// transaction.
func (a *Accounts) ResetPassword(ctx context.Context, actor *Principal, remote, name string) (User, string, error) {
	otp := newOneTimePassword(name)
	hashed, err := a.hash.hash(ctx, otp)
	if err != nil {
		return User{}, "", err
	}
	var id, unit int64
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $2, must_change = true, password_changed_at = $3
			WHERE name = $1 RETURNING id, COALESCE(unit_id, 0)`, name, hashed, a.now()).Scan(&id, &unit)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %q: %w", name, track.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", id); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		if err := liftLockOut(ctx, tx, name); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a.now(), actor, remote, Entry{Action: "user.reset_password", SubjectUnitID: unit,
			Detail: map[string]any{"user": name}})
	})
	if err != nil {
		return User{}, "", fmt.Errorf("reset password of %s: %w", name, err)
	}
	u, err := a.userByID(ctx, id)
	return u, otp, err
}

// liftLockOut forgets the failed logins on name, from every address, in
// tx: a reset password is a new start, whoever reset it.
func liftLockOut(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM login_pairs WHERE name = $1", name); err != nil {
		return fmt.Errorf("lift login lock-out: %w", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM login_buckets WHERE kind = 'name' AND key = $1", name); err != nil {
		return fmt.Errorf("lift login slow-down: %w", err)
	}
	return nil
}
