package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is what a command asks of the terminal.
type Kind string

// The kinds of command, with the JT/T 808 message each is sent as.
const (
	SetParams     Kind = "set_params"     // 0x8103 设置终端参数, answered with 0x0001
	QueryParams   Kind = "query_params"   // 0x8104 查询终端参数, answered with 0x0104
	QueryLocation Kind = "query_location" // 0x8201 位置信息查询, answered with 0x0201
	Track         Kind = "track"          // 0x8202 临时位置跟踪控制, answered with 0x0001
	Text          Kind = "text"           // 0x8300 文本信息下发, answered with 0x0001
)

// Kinds lists every kind, in the order a user interface offers them.
var Kinds = []Kind{SetParams, QueryParams, QueryLocation, Track, Text}

// MsgID is the JT/T 808 message ID the kind is sent as; 0 for an unknown kind.
func (k Kind) MsgID() uint16 {
	switch k {
	case SetParams:
		return 0x8103
	case QueryParams:
		return 0x8104
	case QueryLocation:
		return 0x8201
	case Track:
		return 0x8202
	case Text:
		return 0x8300
	}
	return 0
}

// DataReply is the message ID of the answer that carries the command's
// data (0x0104, 0x0201), or 0 when the terminal's general reply (0x0001)
// is the answer.
func (k Kind) DataReply() uint16 {
	switch k {
	case QueryParams:
		return 0x0104
	case QueryLocation:
		return 0x0201
	}
	return 0
}

// State is where a command stands.
type State string

// The states: queued until a node holding the terminal sends it; sent
// until the terminal answers; then answered or failed (a non-zero result
// code), or timed_out (no answer in time, or never online before it
// expired); cancelled by a user while still queued.
const (
	Queued    State = "queued"
	Sent      State = "sent"
	Answered  State = "answered"
	Failed    State = "failed"
	TimedOut  State = "timed_out"
	Cancelled State = "cancelled"
)

// States lists every state.
var States = []State{Queued, Sent, Answered, Failed, TimedOut, Cancelled}

// ParamType is how a terminal parameter's value is encoded.
type ParamType int

// Parameter types of JT/T 808's 终端参数 table.
const (
	DWORD ParamType = iota
	String
)

// ParamDef is a terminal parameter a user may set and read back by name.
type ParamDef struct {
	Name string
	ID   uint32
	Type ParamType
}

// Params are the parameters offered, by JT/T 808-2019 表 (终端参数设置各参数项定义及说明):
// reporting intervals, the over-speed threshold and the server address.
var Params = []ParamDef{
	{"heartbeat_interval_s", 0x0001, DWORD},
	{"server_address", 0x0013, String},
	{"server_tcp_port", 0x0018, DWORD},
	{"report_strategy", 0x0020, DWORD},
	{"sleep_interval_s", 0x0027, DWORD},
	{"sos_interval_s", 0x0028, DWORD},
	{"default_interval_s", 0x0029, DWORD},
	{"max_speed_kmh", 0x0055, DWORD},
	{"overspeed_duration_s", 0x0056, DWORD},
}

// ParamByName returns the parameter named name.
func ParamByName(name string) (ParamDef, bool) {
	for _, p := range Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamDef{}, false
}

// ParamByID returns the parameter with JT/T 808 ID id.
func ParamByID(id uint32) (ParamDef, bool) {
	for _, p := range Params {
		if p.ID == id {
			return p, true
		}
	}
	return ParamDef{}, false
}

// Limits of the arguments, from the message layouts: a STRING parameter's
// length is a BYTE, 0x8300's text at most 1024 bytes (GBK: two bytes a
// Chinese character, so 500 characters leave room), 0x8202's interval a
// WORD.
const (
	MaxParamText = 100
	MaxText      = 500
	MaxTrackFor  = 24 * time.Hour
)

// Args are a command's arguments, stored as JSON.
type Args struct {
	// Params (set_params): values by parameter name; a DWORD as a JSON
	// number, a STRING as a JSON string.
	Params map[string]any `json:"params,omitempty"`
	// IntervalS and ForS (track): report every IntervalS seconds for ForS
	// seconds. IntervalS 0 stops tracking.
	IntervalS int `json:"interval_s,omitempty"`
	ForS      int `json:"for_s,omitempty"`
	// Text (text) is shown on the driver's display; TTS also reads it out.
	Text string `json:"text,omitempty"`
	TTS  bool   `json:"tts,omitempty"`
}

// ErrArgs wraps every refusal of a command's arguments.
var ErrArgs = errors.New("command arguments")

func argErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrArgs, fmt.Sprintf(format, a...))
}

// Check validates a's fields for kind k and normalises them (numbers as
// uint32, text trimmed); it clears what the kind does not use.
func (a *Args) Check(k Kind) error {
	switch k {
	case SetParams:
		if len(a.Params) == 0 {
			return argErr("params: at least one parameter")
		}
		norm := make(map[string]any, len(a.Params))
		for name, v := range a.Params {
			def, ok := ParamByName(name)
			if !ok {
				return argErr("params: unknown parameter %q", name)
			}
			val, err := checkParam(def, v)
			if err != nil {
				return err
			}
			norm[name] = val
		}
		*a = Args{Params: norm}
	case QueryParams, QueryLocation:
		*a = Args{}
	case Track:
		if a.IntervalS < 0 || a.IntervalS > math.MaxUint16 {
			return argErr("interval_s: 0 (stop) to %d seconds", math.MaxUint16)
		}
		if a.IntervalS > 0 && (a.ForS <= 0 || time.Duration(a.ForS)*time.Second > MaxTrackFor) {
			return argErr("for_s: 1 to %d seconds", int(MaxTrackFor.Seconds()))
		}
		if a.IntervalS == 0 {
			a.ForS = 0
		}
		*a = Args{IntervalS: a.IntervalS, ForS: a.ForS}
	case Text:
		t := strings.TrimSpace(a.Text)
		if t == "" || utf8.RuneCountInString(t) > MaxText {
			return argErr("text: 1 to %d characters", MaxText)
		}
		*a = Args{Text: t, TTS: a.TTS}
	default:
		return argErr("kind %q: want one of %v", k, Kinds)
	}
	return nil
}

func checkParam(def ParamDef, v any) (any, error) {
	switch def.Type {
	case String:
		s, ok := v.(string)
		s = strings.TrimSpace(s)
		if !ok || s == "" || len(s) > MaxParamText {
			return nil, argErr("params.%s: a text of 1 to %d bytes", def.Name, MaxParamText)
		}
		return s, nil
	default:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return nil, argErr("params.%s: a whole number", def.Name)
			}
		case int:
			f = float64(n)
		case uint32:
			f = float64(n)
		default:
			return nil, argErr("params.%s: a whole number", def.Name)
		}
		if f != math.Trunc(f) || f < 0 || f > math.MaxUint32 {
			return nil, argErr("params.%s: a whole number from 0 to %d", def.Name, uint32(math.MaxUint32))
		}
		return uint32(f), nil
	}
}

// ParamNames returns the names of a's parameters, sorted.
func (a *Args) ParamNames() []string {
	names := make([]string, 0, len(a.Params))
	for n := range a.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Command is one command and what became of it.
type Command struct {
	ID          int64
	TerminalID  int64
	VehicleID   int64 // 0 when the terminal was not bound when queued
	Phone       string
	Kind        Kind
	Args        Args
	ClientKey   string
	State       State
	CreatedBy   int64
	CreatedName string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	SentAt      time.Time // zero until sent
	SentBy      string    // the node that sent it
	Serial      int       // -1 until sent
	DoneAt      time.Time
	Result      int // -1 until answered; else the terminal's result code
	// Reply is the data of the answer (0x0104's parameters, 0x0201's
	// location) as JSON; nil for a general reply.
	Reply json.RawMessage
}
