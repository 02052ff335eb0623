package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fleetmon/track"
	"fleetmon/track/commands"
)

// Commands to a vehicle's terminal (JT/T 808 set and query parameters,
// query location, temporary tracking, text to the driver): administrators
// and supervisors queue them for vehicles in their jurisdiction, each in
// the transaction of its audit entry; inspectors read what was sent and
// answered. The gateway holding the terminal's connection, on whichever
// node, sends them (package commands).

func (s *Server) commandRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/vehicles/{id}/commands", s.listCommands)
	p.HandleFunc("POST /api/v1/vehicles/{id}/commands", s.queueCommand)
	p.HandleFunc("POST /api/v1/vehicles/{id}/commands/{cid}/cancel", s.cancelCommand)
	p.HandleFunc("GET /api/v1/commands/params", s.commandParams)
}

func init() {
	zhRules = append(zhRules,
		zh(`command arguments: params: at least one parameter`, "参数：至少设置一项"),
		zh(`command arguments: params: unknown parameter "(.*)"`, "参数：未知参数“{1}”"),
		zh(`command arguments: params\.(.*): a text of 1 to (\d+) bytes`, "参数 {1}：应为 1 到 {2} 字节的文本"),
		zh(`command arguments: params\.(.*): a whole number.*`, "参数 {1}：应为非负整数"),
		zh(`command arguments: interval_s: .*`, "跟踪间隔：应为 0（停止）到 65535 秒"),
		zh(`command arguments: for_s: 1 to (\d+) seconds`, "跟踪时长：应为 1 到 {1} 秒"),
		zh(`command arguments: text: 1 to (\d+) characters`, "文本：应为 1 到 {1} 个字符"),
		zh(`command arguments: kind "(.*)": .*`, "未知的指令类型“{1}”"),
		zh(`client_key: 1 to 100 characters`, "请求标识 client_key：应为 1 到 100 个字符"),
		zh(`the vehicle has no terminal`, "该车辆未绑定终端"),
		zh(`client key already used for a different command`, "此请求标识已用于另一条指令"),
		zh(`the command is no longer queued`, "指令已发出或已结束，不能撤销"),
	)
}

type commandJSON struct {
	ID        int64         `json:"id"`
	VehicleID int64         `json:"vehicle_id"`
	Phone     string        `json:"phone"`
	Kind      string        `json:"kind"`
	MsgID     string        `json:"msg_id"`
	Args      commands.Args `json:"args"`
	ClientKey string        `json:"client_key"`
	State     string        `json:"state"`
	CreatedBy string        `json:"created_by"`
	CreatedAt string        `json:"created_at"`
	ExpiresAt string        `json:"expires_at"`
	SentAt    string        `json:"sent_at,omitempty"`
	SentBy    string        `json:"sent_by,omitempty"`
	Serial    *int          `json:"serial,omitempty"`
	DoneAt    string        `json:"done_at,omitempty"`
	Result    *int          `json:"result,omitempty"`
	Reply     any           `json:"reply,omitempty"`
}

func toCommandJSON(c commands.Command) commandJSON {
	j := commandJSON{ID: c.ID, VehicleID: c.VehicleID, Phone: c.Phone, Kind: string(c.Kind),
		MsgID: "0x" + strconv.FormatUint(uint64(c.Kind.MsgID()), 16), Args: c.Args, ClientKey: c.ClientKey,
		State: string(c.State), CreatedBy: c.CreatedName, CreatedAt: formatTime(c.CreatedAt), ExpiresAt: formatTime(c.ExpiresAt)}
	if !c.SentAt.IsZero() {
		j.SentAt, j.SentBy = formatTime(c.SentAt), c.SentBy
	}
	if c.Serial >= 0 {
		j.Serial = &c.Serial
	}
	if !c.DoneAt.IsZero() {
		j.DoneAt = formatTime(c.DoneAt)
	}
	if c.Result >= 0 {
		j.Result = &c.Result
	}
	if len(c.Reply) > 0 {
		j.Reply = c.Reply
	}
	return j
}

type commandRequest struct {
	Kind      commands.Kind `json:"kind"`
	ClientKey string        `json:"client_key"`
	commands.Args
}

// queueCommand serves POST /api/v1/vehicles/{id}/commands.
func (s *Server) queueCommand(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req commandRequest
	if !s.decode(w, r, &req) {
		return
	}
	req.ClientKey = strings.TrimSpace(req.ClientKey)
	if req.ClientKey == "" || len([]rune(req.ClientKey)) > 100 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "client_key: 1 to 100 characters")
		return
	}
	args := req.Args
	if err := args.Check(req.Kind); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	p := principal(r)
	var c commands.Command
	var created bool
	err := s.change(r, func(tx changeTx) (Entry, error) {
		v, err := tx.store.VehicleIn(r.Context(), p.Scope(), id)
		if err != nil {
			return Entry{}, err
		}
		c, created, err = s.commands.Enqueue(r.Context(), tx.tx, commands.Request{VehicleID: id, Kind: req.Kind,
			Args: args, ClientKey: req.ClientKey, CreatedBy: p.ID, CreatedName: p.Name})
		if err != nil {
			return Entry{}, err
		}
		// A repeated request is audited too, as queueing nothing.
		return Entry{Action: "command.queue", VehicleID: id, SubjectUnitID: v.UnitID,
			Detail: map[string]any{"command_id": c.ID, "kind": string(c.Kind), "args": c.Args, "client_key": c.ClientKey,
				"created": created, "phone": c.Phone}}, nil
	})
	if err != nil {
		s.failCommand(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, toCommandJSON(c))
}

// cancelCommand serves POST /api/v1/vehicles/{id}/commands/{cid}/cancel.
func (s *Server) cancelCommand(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	cid, err := strconv.ParseInt(r.PathValue("cid"), 10, 64)
	if err != nil || cid <= 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return
	}
	p := principal(r)
	var c commands.Command
	err = s.change(r, func(tx changeTx) (Entry, error) {
		v, err := tx.store.VehicleIn(r.Context(), p.Scope(), id)
		if err != nil {
			return Entry{}, err
		}
		if c, err = s.commands.Cancel(r.Context(), tx.tx, id, cid); err != nil {
			return Entry{}, err
		}
		return Entry{Action: "command.cancel", VehicleID: id, SubjectUnitID: v.UnitID,
			Detail: map[string]any{"command_id": c.ID, "kind": string(c.Kind)}}, nil
	})
	if err != nil {
		s.failCommand(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toCommandJSON(c))
}

// listCommands serves GET /api/v1/vehicles/{id}/commands: the vehicle's
// commands, newest first (limit, default 50, at most 500).
func (s *Server) listCommands(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "limit: 1 to 500")
			return
		}
		limit = n
	}
	if _, err := s.store.VehicleIn(r.Context(), principal(r).Scope(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.commands.List(r.Context(), id, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]commandJSON, len(cs))
	for i, c := range cs {
		items[i] = toCommandJSON(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"vehicle_id": id, "items": items})
}

// commandParams serves GET /api/v1/commands/params: the terminal
// parameters that may be set and read back, and the limits of the others.
func (s *Server) commandParams(w http.ResponseWriter, r *http.Request) {
	type paramJSON struct {
		Name string `json:"name"`
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	ps := make([]paramJSON, len(commands.Params))
	for i, d := range commands.Params {
		t := "dword"
		if d.Type == commands.String {
			t = "string"
		}
		ps[i] = paramJSON{Name: d.Name, ID: "0x" + strconv.FormatUint(uint64(d.ID), 16), Type: t}
	}
	cfg := s.commands.Config()
	writeJSON(w, http.StatusOK, map[string]any{"kinds": commands.Kinds, "params": ps, "max_text": commands.MaxText,
		"max_track_s": int(commands.MaxTrackFor / time.Second), "reply_timeout_s": int(cfg.ReplyTimeout / time.Second),
		"queue_for_s": int(cfg.QueueFor / time.Second)})
}

func (s *Server) failCommand(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, commands.ErrNoTerminal):
		writeError(w, r, http.StatusConflict, "no_terminal", err.Error())
	case errors.Is(err, commands.ErrKeyReused):
		writeError(w, r, http.StatusConflict, "client_key_reused", err.Error())
	case errors.Is(err, commands.ErrNotQueued):
		writeError(w, r, http.StatusConflict, "not_queued", err.Error())
	case errors.Is(err, commands.ErrNotFound):
		s.fail(w, r, track.ErrNotFound)
	default:
		s.fail(w, r, err)
	}
}
