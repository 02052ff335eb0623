package jt808

// Batch types of 0x0704 (位置数据类型).
const (
	BatchNormal    uint8 = 0 // 正常位置批量汇报
	BatchBlindZone uint8 = 1 // 盲区补报: positions buffered while offline
)

// batchItemMin is the smallest 0x0704 item: its WORD length and a 28-byte 位置基本信息.
const batchItemMin = 2 + locationBaseLen

// BatchLocation is 0x0704 定位数据批量上传 (JT/T 808-2013 and -2019, 定位数据批量上传 table):
// 数据项个数 WORD, 位置数据类型 BYTE, then that many items of 位置汇报数据体长度 WORD followed by a
// 0x0200 body. The layout is the same in every version.
//
// Decode reuses the capacity of Items (and each Location's arrays), so a steady stream of
// batches allocates only when a batch is larger than any before. Each Location aliases the body
// as Location does. Decode checks the count against the body before allocating, so a forged count
// cannot make it allocate more than the body could hold.
type BatchLocation struct {
	Type  uint8 // 位置数据类型: BatchNormal or BatchBlindZone
	Items []Location
}

// ID returns IDBatchLocation.
func (*BatchLocation) ID() MsgID { return IDBatchLocation }

// Decode parses body into m.
func (m *BatchLocation) Decode(body []byte, _ *Header) error {
	r := reader{msg: IDBatchLocation, b: body}
	n := int(r.u16("count"))
	m.Type = r.u8("batch type")
	m.Items = m.Items[:0]
	if r.err != nil {
		return r.err
	}
	if n*batchItemMin > len(r.b) {
		return fieldErr(IDBatchLocation, "items", ErrShortBody)
	}
	if cap(m.Items) < n {
		m.Items = append(m.Items[:cap(m.Items)], make([]Location, n-cap(m.Items))...)
	}
	m.Items = m.Items[:n]
	for i := range m.Items {
		size := int(r.u16("item length"))
		item := r.bytes("item", size)
		if r.err != nil {
			m.Items = m.Items[:i]
			return r.err
		}
		if err := m.Items[i].decode(IDBatchLocation, item); err != nil {
			m.Items = m.Items[:i]
			return err
		}
	}
	return r.end("items")
}

// AppendTo appends the body. At most 65535 items are written.
func (m *BatchLocation) AppendTo(dst []byte, v Version) []byte {
	items := m.Items
	if len(items) > 0xffff {
		items = items[:0xffff]
	}
	dst = appendU16(dst, uint16(len(items)))
	dst = append(dst, m.Type)
	for i := range items {
		at := len(dst)
		dst = append(dst, 0, 0)
		dst = items[i].AppendTo(dst, v)
		n := len(dst) - at - 2
		dst[at], dst[at+1] = byte(n>>8), byte(n)
	}
	return dst
}
