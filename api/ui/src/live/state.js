// Vehicle state as the live map shows it: the server's (the snapshot,
// every position and the "state" events of the live stream carry it; the
// server alone decides when a silent vehicle is offline, after fleetd serve
// --offline-after), with an open alert shown as alarm. Until the server has
// said, it is derived from the vehicle (sealed) and its latest position
// (alarm flags, speed), never offline: that takes the server's clock and
// threshold.

// MOVING_KMH: below this, GPS jitter rather than driving.
export const MOVING_KMH = 3;

export const STATES = ["moving", "parked", "offline", "alarm", "sealed"];

export const STATE_COLORS = {
  moving: "#1e9e4a",
  parked: "#2f6fd6",
  offline: "#8a8f98",
  alarm: "#d93025",
  sealed: "#8e44ad",
  nodata: "#b9bec6",
};

// JT/T 808-2019 表 24 状态位: bit 0 ACC on, bit 1 positioned.
export const accOn = (status) => (status & 1) !== 0;
export const fixed = (status) => (status & 2) !== 0;

// stateOf is the state to show: alarm while an alert is open, else the
// state the server last sent (v.serverState), else derived here.
export function stateOf(v) {
  const p = v.pos;
  if (v.openAlerts.size > 0) return "alarm";
  if (v.serverState) return v.serverState;
  if (p && p.alarm !== 0) return "alarm";
  if (v.sealed) return "sealed";
  if (!p) return "nodata";
  return p.speed_kmh >= MOVING_KMH ? "moving" : "parked";
}
