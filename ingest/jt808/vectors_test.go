package jt808

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
)

// vectorsPath is the shared table of real frames; see testdata/jt808/README.md for its keys.
const vectorsPath = "../../testdata/jt808/vectors.jsonl"

type vector struct {
	Name   string         `json:"name"`
	Hex    string         `json:"hex"`
	Tags   []string       `json:"tags"`
	Expect map[string]any `json:"expect"`
	Note   string         `json:"note"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open(vectorsPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v vector
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			tb.Fatalf("%s: %v", vectorsPath, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors")
	}
	return vs
}

func (v *vector) wire(tb testing.TB) []byte {
	tb.Helper()
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		tb.Fatalf("%s: %v", v.Name, err)
	}
	return b
}

// frame returns the vector's unescaped frame (between the delimiters), via Unescape.
func (v *vector) frame(tb testing.TB) []byte {
	tb.Helper()
	w := v.wire(tb)
	if len(w) < 2 || w[0] != 0x7e || w[len(w)-1] != 0x7e {
		tb.Fatalf("%s: not delimited", v.Name)
	}
	u, err := Unescape(nil, w[1:len(w)-1])
	if err != nil {
		tb.Fatalf("%s: unescape: %v", v.Name, err)
	}
	return u
}

func (v *vector) hasTag(tag string) bool {
	for _, t := range v.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// nonCanonical lists the vectors that cannot re-encode byte for byte, with the reason. Every
// other vector must.
var nonCanonical = map[string]string{
	// Malformed on purpose: the length field says 50 for 40 body bytes and the check code is
	// wrong; AppendFrame writes a correct length and check code.
	"location_bad_length_and_checksum_traccar": "wrong length field and check code (malformed)",
	// The 2019 plate STRING is sent as 16 NUL bytes; Register.Plate is "" (trimmed) and a STRING
	// is written unpadded, so the body re-encodes 16 bytes shorter.
	"register_2019_real_device_traccar": "plate STRING padded with 16 NULs",
}

// unchecked lists expect keys a test deliberately does not compare, with the reason. It is
// empty: every key of every vector is checked. A new key in vectors.jsonl fails the test until
// it is checked or listed here.
var unchecked = map[string]string{}

// checker compares decoded values with a vector's expect map and remembers which keys it
// compared, so that a key nobody checks fails the test.
type checker struct {
	t       *testing.T
	prefix  string
	exp     map[string]any
	checked map[string]bool
}

func newChecker(t *testing.T, prefix string, exp map[string]any) *checker {
	return &checker{t: t, prefix: prefix, exp: exp, checked: map[string]bool{}}
}

func (c *checker) has(key string) bool { _, ok := c.exp[key]; return ok }

func (c *checker) get(key string) (any, bool) {
	v, ok := c.exp[key]
	if ok {
		c.checked[key] = true
	}
	return v, ok
}

func (c *checker) int(key string, got int64) {
	c.t.Helper()
	v, ok := c.get(key)
	if !ok {
		return
	}
	n, err := v.(json.Number).Int64()
	if err != nil {
		c.t.Errorf("%s%s: expect %v is not an integer", c.prefix, key, v)
		return
	}
	if n != got {
		c.t.Errorf("%s%s = %d, want %d", c.prefix, key, got, n)
	}
}

func (c *checker) float(key string, got float64) {
	c.t.Helper()
	v, ok := c.get(key)
	if !ok {
		return
	}
	f, err := v.(json.Number).Float64()
	if err != nil {
		c.t.Errorf("%s%s: expect %v is not a number", c.prefix, key, v)
		return
	}
	if math.Abs(f-got) > 1e-9 {
		c.t.Errorf("%s%s = %v, want %v", c.prefix, key, got, f)
	}
}

func (c *checker) str(key, got string) {
	c.t.Helper()
	v, ok := c.get(key)
	if !ok {
		return
	}
	if s, _ := v.(string); s != got {
		c.t.Errorf("%s%s = %q, want %q", c.prefix, key, got, v)
	}
}

func (c *checker) bool(key string, got bool) {
	c.t.Helper()
	v, ok := c.get(key)
	if !ok {
		return
	}
	if b, _ := v.(bool); b != got {
		c.t.Errorf("%s%s = %v, want %v", c.prefix, key, got, v)
	}
}

// finish fails the test for every expect key that was not compared and is not in unchecked.
func (c *checker) finish() {
	c.t.Helper()
	var missed []string
	for k := range c.exp {
		if !c.checked[k] && unchecked[k] == "" {
			missed = append(missed, c.prefix+k)
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		c.t.Errorf("expect keys not checked: %s", strings.Join(missed, ", "))
	}
}

func hexByte(b byte) string { return fmt.Sprintf("0x%02x", b) }

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) { testVector(t, &v) })
	}
}

func testVector(t *testing.T, v *vector) {
	wire := v.wire(t)
	c := newChecker(t, "", v.Expect)

	// The wire form goes through the stream splitter, as on TCP.
	sp := NewSplitter(bytes.NewReader(wire), 0)
	raw, err := sp.Next()
	if err != nil {
		t.Fatalf("splitter: %v", err)
	}
	raw = bytes.Clone(raw)
	if _, err := sp.Next(); err != io.EOF {
		t.Fatalf("splitter after the frame: %v, want io.EOF", err)
	}
	if !bytes.Equal(raw, v.frame(t)) {
		t.Fatalf("splitter frame differs from Unescape")
	}
	c.bool("escaped", bytes.Contains(wire, []byte{0x7d, 0x01}) || bytes.Contains(wire, []byte{0x7d, 0x02}))

	var f Frame
	err = ParseFrame(raw, &f)
	c.bool("checksum_ok", !errors.Is(err, ErrChecksum))
	switch {
	case v.hasTag("malformed"):
		// Policy: ParseFrame reports the check code first; the frame is still filled.
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("ParseFrame = %v, want ErrChecksum", err)
		}
	case err != nil:
		t.Fatalf("ParseFrame: %v", err)
	}
	h := &f.Header
	c.str("msg_id", h.ID.String())
	c.str("version", h.Version.String())
	if h.Version == Version2019 {
		c.int("proto_ver", int64(h.ProtoVer))
	}
	c.str("phone", h.Phone.Digits())
	c.int("serial", int64(h.Serial))
	c.int("body_len", int64(h.BodyLen))
	c.bool("subpackage", h.Fragmented)
	c.int("encrypt", int64(h.Encryption))
	c.bool("bit14_but_2013_header", h.Bit14On2013)
	if h.Fragmented {
		c.int("pkg_total", int64(h.PkgTotal))
		c.int("pkg_index", int64(h.PkgIndex))
	}
	if want, ok := c.get("body_len_mismatch"); ok {
		if int(h.BodyLen) == len(f.Body) {
			t.Errorf("body_len_mismatch: header %d equals body %d", h.BodyLen, len(f.Body))
		}
		if s, _ := want.(string); !strings.Contains(s, fmt.Sprintf("props say %d, frame has %d", h.BodyLen, len(f.Body))) {
			t.Errorf("body_len_mismatch %q, got header %d body %d", s, h.BodyLen, len(f.Body))
		}
	}

	// The body, through the Decoder's flyweights (sub-packages are decoded raw: their
	// reassembly is tested in TestSubpackageReassembly).
	var body []byte
	var d Decoder
	if m := d.For(h.ID); m != nil && !h.Fragmented {
		if err := m.Decode(f.Body, h); err != nil {
			t.Fatalf("decode %s: %v", h.ID, err)
		}
		checkBody(t, c, m)
		body = m.AppendTo(nil, h.Version)
	} else {
		body = f.Body
	}
	c.finish()

	if reason, ok := nonCanonical[v.Name]; ok {
		t.Logf("not re-encoded byte for byte: %s", reason)
		return
	}
	if !bytes.Equal(body, f.Body) {
		t.Errorf("body re-encodes as\n%x\nwant\n%x", body, f.Body)
	}
	if got := AppendFrame(nil, h, body); !bytes.Equal(got, wire) {
		t.Errorf("frame re-encodes as\n%x\nwant\n%x", got, wire)
	}
}

func checkBody(t *testing.T, c *checker, m Message) {
	t.Helper()
	switch m := m.(type) {
	case *Register:
		c.str("layout", m.Layout.String())
		c.int("province", int64(m.Province))
		c.int("city", int64(m.City))
		c.str("maker", m.Maker)
		c.str("model", m.Model)
		c.str("terminal_id", m.TerminalID)
		c.int("plate_color", int64(m.PlateColor))
		c.str("plate", m.Plate)
	case *Auth:
		c.str("auth_code", m.Code)
		c.str("imei", m.IMEI)
		c.str("sw_version", m.SoftwareVersion)
	case *RegisterReply:
		c.int("ack_serial", int64(m.ReplySerial))
		c.int("result", int64(m.Result))
		c.str("auth_code", m.AuthCode)
	case *PlatformReply:
		c.int("ack_serial", int64(m.ReplySerial))
		c.str("ack_id", m.ReplyID.String())
		c.int("result", int64(m.Result))
	case *TerminalReply:
		c.int("ack_serial", int64(m.ReplySerial))
		c.str("ack_id", m.ReplyID.String())
		c.int("result", int64(m.Result))
	case *Location:
		checkLocation(t, c, m)
	case *BatchLocation:
		c.int("count", int64(len(m.Items)))
		c.int("batch_type", int64(m.Type))
		if raw, ok := c.get("items"); ok {
			items, _ := raw.([]any)
			if len(items) != len(m.Items) {
				t.Fatalf("items: %d expected, %d decoded", len(items), len(m.Items))
			}
			for i, it := range items {
				sub := newChecker(t, fmt.Sprintf("items[%d].", i), it.(map[string]any))
				checkLocation(t, sub, &m.Items[i])
				sub.finish()
			}
		}
	case *Heartbeat:
	default:
		t.Fatalf("no checks for %T", m)
	}
}

func checkLocation(t *testing.T, c *checker, l *Location) {
	t.Helper()
	c.int("alarm", int64(l.Alarm))
	c.int("status", int64(l.Status))
	c.bool("fixed", l.Fixed())
	c.bool("acc_on", l.Status&StatusACC != 0)
	c.bool("south", l.Status&StatusSouth != 0)
	c.bool("west", l.Status&StatusWest != 0)
	c.int("lat_raw", int64(l.LatE6))
	c.int("lon_raw", int64(l.LonE6))
	c.float("lat", l.Lat())
	c.float("lon", l.Lon())
	c.int("altitude", int64(l.AltitudeM))
	c.int("speed_raw", int64(l.SpeedDeciKmh))
	c.int("direction", int64(l.Heading))
	c.str("time", l.Time.String())
	if c.has("time") {
		// Every vector's time is valid; the converter must agree with the digits.
		ts, err := l.Timestamp()
		if err != nil {
			t.Errorf("%stime: %v", c.prefix, err)
		} else if got := ts.Format("2006-01-02 15:04:05"); got != l.Time.String() || ts.Location() != CST() {
			t.Errorf("%stime converts to %v", c.prefix, ts)
		}
	}
	item := func(key string, bit Items, got int64) {
		if c.has(key) && !l.Has(bit) {
			t.Errorf("%s%s: item not decoded", c.prefix, key)
		}
		c.int(key, got)
	}
	item("mileage_raw", ItemMileage, int64(l.MileageDeciKm))
	item("fuel_raw", ItemFuel, int64(l.FuelDeciL))
	item("rec_speed_raw", ItemRecSpeed, int64(l.RecSpeedDeciKmh))
	item("alarm_event_id", ItemAlarmEventID, int64(l.AlarmEventID))
	item("ext_vehicle_status", ItemExtStatus, int64(l.ExtStatus))
	item("io_status", ItemIOStatus, int64(l.IOStatus))
	item("analog", ItemAnalog, int64(l.Analog))
	item("signal", ItemSignal, int64(l.Signal))
	item("satellites", ItemSatellites, int64(l.Satellites))
	c.int("item_count", int64(l.ItemCount()))
	if raw, ok := c.get("item_ids"); ok {
		var want []string
		for _, x := range raw.([]any) {
			want = append(want, strings.ToLower(x.(string)))
		}
		var got []string
		for _, id := range l.AppendItemIDs(nil) {
			got = append(got, hexByte(id))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%sitem_ids = %v, want %v", c.prefix, got, want)
		}
	}
}

// TestVectorItemValues checks the typed values of items 0x11-0x13 and the raw vendor items,
// which the expect maps do not spell out (see the vectors' notes).
func TestVectorItemValues(t *testing.T) {
	vs := map[string]*vector{}
	all := loadVectors(t)
	for i := range all {
		vs[all[i].Name] = &all[i]
	}
	decode := func(name string) *Location {
		t.Helper()
		v := vs[name]
		if v == nil {
			t.Fatalf("no vector %s", name)
		}
		var f Frame
		if err := ParseFrame(v.frame(t), &f); err != nil {
			t.Fatal(err)
		}
		var l Location
		if err := l.Decode(f.Body, &f.Header); err != nil {
			t.Fatal(err)
		}
		return &l
	}
	// "Item 0x11 here is 5 bytes (type=1 circle + 4-byte area id); 0x12 is 6 bytes; 0x13 is 7."
	l := decode("location_all_std_items_smallchi")
	if want := (OverSpeed{AreaType: AreaCircle, AreaID: 1}); l.OverSpeed != want {
		t.Errorf("0x11 = %+v, want %+v", l.OverSpeed, want)
	}
	if want := (AreaAlarm{AreaType: AreaCircle, AreaID: 1, Direction: 1}); l.AreaAlarm != want {
		t.Errorf("0x12 = %+v, want %+v", l.AreaAlarm, want)
	}
	if want := (RouteTime{RouteID: 2, DurationS: 0x22, Result: 1}); l.RouteTime != want {
		t.Errorf("0x13 = %+v, want %+v", l.RouteTime, want)
	}
	if l.NExtra != 0 {
		t.Errorf("NExtra = %d, want 0", l.NExtra)
	}

	// 2019 items 0x05 (30 B) and 0x06 are kept raw; 0x11 type 0x42 is decoded as sent.
	l = decode("location_2013_14items_yzh")
	if l.NExtra != 2 || l.Extra[0].ID != 0x05 || len(l.Extra[0].Val) != 30 || l.Extra[1].ID != 0x06 ||
		!bytes.Equal(l.Extra[1].Val, []byte{0x00, 0x02}) {
		t.Errorf("raw items = %+v", l.Extra[:l.NExtra])
	}
	if want := (OverSpeed{AreaType: 0x42, AreaID: 0x42}); l.OverSpeed != want {
		t.Errorf("0x11 = %+v, want %+v", l.OverSpeed, want)
	}

	// Vendor items: traccar's KEY_BATTERY_LEVEL=100 comes from 0xd4.
	l = decode("location_south_west_vendor_items_traccar")
	if l.Extra[0].ID != 0xd4 || !bytes.Equal(l.Extra[0].Val, []byte{100}) {
		t.Errorf("0xd4 = %+v", l.Extra[0])
	}

	// Non-standard length of a standard-range ID (0x05, 40 bytes) stays raw.
	l = decode("location_bit14_set_but_2013_header_smallchi")
	var ids []byte
	for _, it := range l.Extra[:l.NExtra] {
		ids = append(ids, it.ID)
	}
	if !bytes.Equal(ids, []byte{0x05, 0x24, 0x5f}) || len(l.Extra[0].Val) != 0x28 {
		t.Errorf("raw items %x", ids)
	}
}

// TestSubpackageReassembly joins the two 0x0104 parts (in index order, as ingest will) and decodes
// the whole parameter list: "answer serial 0, 107 parameters (first: id 0x00000001 len 4 value
// 600 = heartbeat interval)".
func TestSubpackageReassembly(t *testing.T) {
	var parts [2]Frame
	for _, v := range loadVectors(t) {
		if !strings.HasPrefix(v.Name, "subpackage_0104_part") {
			continue
		}
		var f Frame
		if err := ParseFrame(v.frame(t), &f); err != nil {
			t.Fatal(err)
		}
		if f.Header.PkgIndex < 1 || f.Header.PkgIndex > 2 {
			t.Fatalf("index %d", f.Header.PkgIndex)
		}
		parts[f.Header.PkgIndex-1] = f
	}
	body := append(bytes.Clone(parts[0].Body), parts[1].Body...)
	var m QueryParamsReply
	if err := m.Decode(body, &parts[0].Header); err != nil {
		t.Fatal(err)
	}
	if m.ReplySerial != 0 || len(m.Params) != 107 {
		t.Fatalf("serial %d, %d params", m.ReplySerial, len(m.Params))
	}
	if v, err := m.Params[0].Uint32(); m.Params[0].ID != ParamHeartbeatInterval || err != nil || v != 600 {
		t.Errorf("first param %d = %d, %v", m.Params[0].ID, v, err)
	}
	for _, p := range m.Params {
		if p.ID == ParamPlate {
			if got := p.Text(); got != "测试视频车辆" {
				t.Errorf("plate param = %q", got)
			}
		}
	}
	if got := m.AppendTo(nil, Version2013); !bytes.Equal(got, body) {
		t.Errorf("reassembled body does not re-encode byte for byte")
	}
	// A part on its own is a sub-package: the Decoder refuses it rather than mis-decoding.
	var d Decoder
	if _, err := d.Decode(&parts[0]); !errors.Is(err, ErrFragmented) {
		t.Errorf("Decoder on a part: %v, want ErrFragmented", err)
	}
}
