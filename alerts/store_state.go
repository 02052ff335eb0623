package alerts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The engines' saved state (alert_engine_state): one row per vehicle with
// what MarshalVehicle wrote and how far into the positions it goes.

// SavedState is one vehicle's engine state as stored.
type SavedState struct {
	VehicleID int64
	// State is Engine.MarshalVehicle's output.
	State []byte
	// ProcessedUntil is the latest Received of the vehicle's positions
	// the state includes.
	ProcessedUntil time.Time
	// ProcessedXID, when not 0, says that the state includes every
	// position of the vehicle with a commit_xid below it (cluster mode).
	ProcessedXID int64
	UpdatedAt    time.Time
}

// SaveStates upserts the vehicles' states in one statement. A stored
// processed_until never moves back: a state saved because only the clock
// changed it (ProcessedUntil zero) keeps the one stored.
func (s *Store) SaveStates(ctx context.Context, sts []SavedState) error {
	return saveStatesOn(ctx, s.pool, sts)
}

func saveStatesOn(ctx context.Context, q querier, sts []SavedState) error {
	if len(sts) == 0 {
		return nil
	}
	ids := make([]int64, len(sts))
	blobs := make([][]byte, len(sts))
	until := make([]time.Time, len(sts))
	xids := make([]*int64, len(sts))
	for i, st := range sts {
		ids[i], blobs[i], until[i] = st.VehicleID, st.State, st.ProcessedUntil
		if st.ProcessedXID > 0 {
			xids[i] = &sts[i].ProcessedXID
		}
	}
	_, err := q.Exec(ctx, `INSERT INTO alert_engine_state (vehicle_id, state, processed_until, processed_xid)
		SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::timestamptz[], $4::bigint[]) ORDER BY 1
		ON CONFLICT (vehicle_id) DO UPDATE SET state = excluded.state,
			processed_until = GREATEST(alert_engine_state.processed_until, excluded.processed_until),
			processed_xid = COALESCE(excluded.processed_xid, alert_engine_state.processed_xid), updated_at = now()`, ids, blobs, until, xids)
	if err != nil {
		return fmt.Errorf("save state of %d vehicles: %w", len(sts), err)
	}
	return nil
}

// State reads one vehicle's saved state; false when it has none.
func (s *Store) State(ctx context.Context, vehicleID int64) (SavedState, bool, error) {
	st := SavedState{VehicleID: vehicleID}
	err := s.pool.QueryRow(ctx, `SELECT state, processed_until, COALESCE(processed_xid, 0), updated_at
		FROM alert_engine_state WHERE vehicle_id = $1`,
		vehicleID).Scan(&st.State, &st.ProcessedUntil, &st.ProcessedXID, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("load engine state of vehicle %d: %w", vehicleID, err)
	}
	return st, true, nil
}
