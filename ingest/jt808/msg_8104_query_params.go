package jt808

// QueryParams is 0x8104 查询终端参数, JT/T 808-2019 §8.13 (2013: §8.10): an empty body, answered with
// QueryParamsReply (0x0104).
// Decode rejects a non-empty body with ErrTrailingBytes.
type QueryParams struct{}

// ID returns IDQueryParams.
func (*QueryParams) ID() MsgID { return IDQueryParams }

// Decode checks that body is empty.
func (*QueryParams) Decode(body []byte, _ *Header) error { return decodeEmpty(IDQueryParams, body) }

// AppendTo returns dst unchanged: the body is empty.
func (*QueryParams) AppendTo(dst []byte, _ Version) []byte { return dst }
