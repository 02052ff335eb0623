package alerts

import (
	"encoding/json"
	"fmt"
	"time"
)

// Saving and restoring the engine's state across a restart. What is saved
// (savedVehicle, with VehicleState and each rule's part of it) is stored
// by the runner in alert_engine_state: a saved state must restore after an
// upgrade, so its JSON names never change.

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("alerts: state does not marshal: " + err.Error()) // a defect: the state is plain data
	}
	return b
}

// State returns a copy of the vehicle's state.
func (e *Engine) State(vehicleID int64) (VehicleState, bool) {
	v := e.vs[vehicleID]
	if v == nil {
		return VehicleState{}, false
	}
	var st VehicleState
	_ = json.Unmarshal(mustJSON(&v.st), &st)
	return st, true
}

// savedVehicle is one vehicle as saved: its state, checkpoints and log,
// and what the clock last said.
type savedVehicle struct {
	State       VehicleState `json:"state"`
	Checkpoints []checkpoint `json:"checkpoints"`
	Log         []logEntry   `json:"log"`
	Ticked      time.Time    `json:"ticked,omitzero"`
	Clock       []Episode    `json:"clock,omitempty"`
}

// MarshalState serialises every vehicle's state, checkpoints and recent
// emissions, for a restart.
func (e *Engine) MarshalState() ([]byte, error) {
	m := map[int64]savedVehicle{}
	for id, v := range e.vs {
		m[id] = savedVehicle{v.st, v.cps, v.log, v.ticked, v.clock}
	}
	return json.Marshal(m)
}

// RestoreState loads what MarshalState saved, for vehicles already
// registered with SetVehicle; others are ignored.
func (e *Engine) RestoreState(b []byte) error {
	var m map[int64]savedVehicle
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("alerts: restore state: %w", err)
	}
	for id, s := range m {
		if v := e.vs[id]; v != nil {
			v.st, v.cps, v.log, v.csValid = s.State, s.Checkpoints, s.Log, false
			v.ticked, v.clock = s.Ticked, s.Clock
		}
	}
	return nil
}

// MarshalVehicle serialises one vehicle's state, checkpoints and recent
// emissions (the unit MarshalState is made of), for saving vehicles
// separately. It returns false for a vehicle not registered.
func (e *Engine) MarshalVehicle(vehicleID int64) ([]byte, bool, error) {
	v := e.vs[vehicleID]
	if v == nil {
		return nil, false, nil
	}
	b, err := json.Marshal(savedVehicle{v.st, v.cps, v.log, v.ticked, v.clock})
	return b, true, err
}

// RestoreVehicle loads what MarshalVehicle saved into a registered
// vehicle.
func (e *Engine) RestoreVehicle(vehicleID int64, b []byte) error {
	v := e.vs[vehicleID]
	if v == nil {
		return fmt.Errorf("vehicle %d: %w", vehicleID, ErrUnknownVehicle)
	}
	var s savedVehicle
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("alerts: restore vehicle %d: %w", vehicleID, err)
	}
	if len(s.Checkpoints) == 0 {
		return fmt.Errorf("alerts: restore vehicle %d: no checkpoint", vehicleID)
	}
	v.st, v.cps, v.log, v.csValid = s.State, s.Checkpoints, s.Log, false
	v.ticked, v.clock = s.Ticked, s.Clock
	return nil
}
