package jt808

// Message is implemented by every body type in this package.
//
// Decode parses body (the Frame.Body of a frame whose header is h) into the receiver,
// overwriting every field; h supplies the version for layouts that depend on it (nil means
// Version2013). What the value retains from body is documented on each type.
//
// AppendTo appends the body in version v's layout to dst and returns the extended slice.
type Message interface {
	ID() MsgID
	Decode(body []byte, h *Header) error
	AppendTo(dst []byte, v Version) []byte
}

func versionOf(h *Header) Version {
	if h == nil {
		return Version2013
	}
	return h.Version
}

// Decoder holds one reusable value per message type (a flyweight, as pgx's pgproto3.Frontend
// does), so that decoding a steady stream allocates nothing. The zero Decoder is ready to use.
type Decoder struct {
	TerminalReply      TerminalReply
	PlatformReply      PlatformReply
	Heartbeat          Heartbeat
	Logout             Logout
	QueryTime          QueryTime
	QueryTimeReply     QueryTimeReply
	ResendRequest      ResendRequest
	Register           Register
	RegisterReply      RegisterReply
	Auth               Auth
	SetParams          SetParams
	QueryParams        QueryParams
	QueryParamsReply   QueryParamsReply
	Location           Location
	QueryLocation      QueryLocation
	QueryLocationReply QueryLocationReply
	TrackControl       TrackControl
	AlarmConfirm       AlarmConfirm
	TextMessage        TextMessage
	BatchLocation      BatchLocation
}

// For returns the Decoder's value for id, or nil if the package has no type for it.
// The value is owned by the Decoder and reused by the next Decode of the same ID.
func (d *Decoder) For(id MsgID) Message {
	switch id {
	case IDTerminalReply:
		return &d.TerminalReply
	case IDPlatformReply:
		return &d.PlatformReply
	case IDHeartbeat:
		return &d.Heartbeat
	case IDLogout:
		return &d.Logout
	case IDQueryTime:
		return &d.QueryTime
	case IDQueryTimeReply:
		return &d.QueryTimeReply
	case IDResendRequest:
		return &d.ResendRequest
	case IDRegister:
		return &d.Register
	case IDRegisterReply:
		return &d.RegisterReply
	case IDAuth:
		return &d.Auth
	case IDSetParams:
		return &d.SetParams
	case IDQueryParams:
		return &d.QueryParams
	case IDQueryParamsReply:
		return &d.QueryParamsReply
	case IDLocation:
		return &d.Location
	case IDQueryLocation:
		return &d.QueryLocation
	case IDQueryLocationReply:
		return &d.QueryLocationReply
	case IDTrackControl:
		return &d.TrackControl
	case IDAlarmConfirm:
		return &d.AlarmConfirm
	case IDTextMessage:
		return &d.TextMessage
	case IDBatchLocation:
		return &d.BatchLocation
	}
	return nil
}

// Decode decodes f's body into the Decoder's value for f.Header.ID and returns it (a pointer to a
// field of d: valid, and aliasing f.Body where the type says so, until the next Decode of that
// ID). It returns an error wrapping ErrUnsupported for an ID without a type, and ErrFragmented
// for a sub-package: reassemble the bodies in index order and call the type's Decode.
func (d *Decoder) Decode(f *Frame) (Message, error) {
	m := d.For(f.Header.ID)
	if m == nil {
		return nil, fieldErr(f.Header.ID, "message id", ErrUnsupported)
	}
	if f.Header.Fragmented {
		return nil, fieldErr(f.Header.ID, "body", ErrFragmented)
	}
	if err := m.Decode(f.Body, &f.Header); err != nil {
		return nil, err
	}
	return m, nil
}
