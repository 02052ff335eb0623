package jt808

import (
	"bytes"
	"errors"
	"io"
)

// DefaultMaxFrame is the Splitter's default maximum wire frame size in bytes, counting both
// delimiters. It is the largest legal frame: a 2019 sub-package header (21 bytes), a 1023-byte
// body and the check code, every byte escaped to two, plus two delimiters: 2 + 2*(21+1023+1).
const DefaultMaxFrame = 2 + 2*(headerLen2019+packageInfoLen+MaxBodyLen+1)

// minMaxFrame is the smallest maximum accepted: a 2013 frame with an empty body, unescaped.
const minMaxFrame = minFrameLen + 2

// readChunk is how much the Splitter asks the reader for beyond a maximal partial frame.
const readChunk = 4096

// maxEmptyReads bounds consecutive (0, nil) reads before giving up, as bufio does.
const maxEmptyReads = 100

// Splitter finds frames in a TCP byte stream, in the manner of traccar's Jt808FrameDecoder.
//
// Stream policy:
//   - Bytes before a 0x7e are garbage: skipped and counted (Skipped), so the splitter
//     resynchronises on the next 0x7e.
//   - A closing 0x7e is not consumed: it also serves as the opening delimiter of the next frame.
//     So "7e A 7e 7e B 7e" (the usual back-to-back form), "7e A 7e B 7e" (shared delimiter) and
//     an empty frame "7e 7e" all work.
//   - A run between two 0x7e shorter, once unescaped, than the smallest frame (13 bytes: 2013
//     header + check code) cannot be a frame. It is counted as skipped, not returned; this is
//     how garbage between a closing delimiter and the next frame is dropped.
//   - A read timeout (an error with Timeout() true, such as os.ErrDeadlineExceeded) is returned
//     but not kept: a partial frame stays buffered and the next call resumes it, so callers can
//     poll with read deadlines.
//   - A frame longer than MaxFrame wire bytes (delimiters included) returns ErrFrameTooLarge.
//     The caller decides whether to close; if it calls Next again, the splitter discards bytes
//     up to the next 0x7e (counted as skipped) and carries on.
//   - A frame with a bad escape returns ErrBadEscape for that frame; the next call carries on.
type Splitter struct {
	// MaxFrame is the largest frame accepted, in wire bytes counting both 0x7e delimiters.
	// NewSplitter sets it; a change takes effect on the next call to Next.
	MaxFrame int

	r          io.Reader
	buf        []byte // read buffer; buf[start:end] is unread
	start, end int
	out        []byte // the unescaped frame returned by Next
	skipped    int64
	discarding bool // after ErrFrameTooLarge: drop bytes until the next 0x7e
	// kept is true while buf[start] is the closing delimiter of a non-empty run, kept as a
	// possible opener; bytes after it that end with the stream are trailing garbage, not a
	// truncated frame.
	kept bool
	err  error // sticky error from r
}

// NewSplitter returns a Splitter reading from r. maxFrame <= 0 means DefaultMaxFrame; values
// below 15 (the smallest frame) are raised to 15.
func NewSplitter(r io.Reader, maxFrame int) *Splitter {
	s := &Splitter{}
	s.MaxFrame = maxFrame
	s.Reset(r)
	return s
}

// Reset discards all state, keeps the buffers and MaxFrame, and reads from r from now on, so one
// Splitter can serve many connections in turn.
func (s *Splitter) Reset(r io.Reader) {
	s.r = r
	s.start, s.end = 0, 0
	s.skipped = 0
	s.discarding = false
	s.kept = false
	s.err = nil
}

// Skipped returns how many stream bytes were not returned in any frame: garbage before a 0x7e,
// runs too short to be a frame, and the remains of oversized frames. Delimiters are not counted.
func (s *Splitter) Skipped() int64 { return s.skipped }

func (s *Splitter) maxFrame() int {
	switch {
	case s.MaxFrame <= 0:
		return DefaultMaxFrame
	case s.MaxFrame < minMaxFrame:
		return minMaxFrame
	}
	return s.MaxFrame
}

// Next returns the next frame, UNESCAPED, without its delimiters and with the check code still
// last: the input ParseFrame expects. The slice is owned by the Splitter and valid until the
// next call to Next or Reset.
//
// Errors: ErrFrameTooLarge and ErrBadEscape (wrapped; errors.Is) are per frame and the splitter
// can continue. io.EOF means the stream ended cleanly (between frames); io.ErrUnexpectedEOF
// means it ended inside a frame (bytes after the last frame's closing 0x7e that never reach
// another 0x7e count as trailing garbage, not as a frame); any other reader error is returned
// as is. Reader errors are sticky, except a timeout (a read deadline expiring), which is
// returned and forgotten so that callers can poll with deadlines: the next call resumes the
// frame.
func (s *Splitter) Next() ([]byte, error) {
	maxFrame := s.maxFrame()
	if need := maxFrame + readChunk; len(s.buf) < need {
		nb := make([]byte, need)
		s.end = copy(nb, s.buf[s.start:s.end])
		s.start = 0
		s.buf = nb
	}
	for {
		win := s.buf[s.start:s.end]
		if s.discarding {
			i := bytes.IndexByte(win, flagByte)
			if i < 0 {
				s.skipped += int64(len(win))
				s.start = s.end
			} else {
				s.skipped += int64(i)
				s.start += i
				s.discarding = false
				s.kept = true // it closes the oversized frame, as in the complete case
				continue
			}
		} else if i := bytes.IndexByte(win, flagByte); i < 0 {
			s.skipped += int64(len(win))
			s.start = s.end
		} else {
			if i > 0 {
				s.skipped += int64(i)
				s.start += i // s.buf[s.start] is the opening 0x7e
				s.kept = false
			}
			j := bytes.IndexByte(s.buf[s.start+1:s.end], flagByte)
			if j >= 0 {
				content := s.buf[s.start+1 : s.start+1+j]
				s.start += 1 + j // keep the closing 0x7e: it may open the next frame
				s.kept = len(content) > 0
				switch {
				case len(content) == 0:
					continue
				case len(content)+2 > maxFrame:
					s.skipped += int64(len(content))
					return nil, fieldErr(0, "frame", ErrFrameTooLarge)
				case len(content) < minFrameLen:
					s.skipped += int64(len(content))
					continue
				}
				out, err := Unescape(s.out[:0], content)
				s.out = out
				if err != nil {
					return nil, err
				}
				if len(out) < minFrameLen { // short once unescaped
					s.skipped += int64(len(content))
					continue
				}
				return out, nil
			}
			if s.end-s.start+1 > maxFrame { // opening delimiter, content so far, closing one
				s.skipped += int64(s.end - s.start - 1)
				s.start = s.end
				s.discarding = true
				s.kept = false
				return nil, fieldErr(0, "frame", ErrFrameTooLarge)
			}
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes after compacting the unread window to the front of the buffer.
func (s *Splitter) fill() error {
	if s.err != nil {
		return s.eof()
	}
	if s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	for i := 0; i < maxEmptyReads; i++ {
		n, err := s.r.Read(s.buf[s.end:])
		if n < 0 || n > len(s.buf)-s.end {
			n = 0
			if err == nil {
				err = io.ErrNoProgress
			}
		}
		s.end += n
		if isTimeout(err) {
			// A deadline is how callers poll (idle limits, sub-package
			// timers): it is returned but not kept, and the partial frame
			// stays buffered for the next call.
			if n > 0 {
				return nil
			}
			return err
		}
		if err != nil {
			s.err = err
			if n > 0 {
				return nil
			}
			return s.eof()
		}
		if n > 0 {
			return nil
		}
	}
	s.err = io.ErrNoProgress
	return s.err
}

// isTimeout reports whether err is a deadline expiring (net.Error and
// os.ErrDeadlineExceeded both have Timeout).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// eof reports the sticky reader error, turning io.EOF inside a frame into io.ErrUnexpectedEOF.
// Bytes after the closing delimiter of the last frame are trailing garbage, not a frame: they
// are counted as skipped and the stream ends cleanly. A partial frame is dropped (counted as
// skipped) so that the next call returns io.EOF.
func (s *Splitter) eof() error {
	if s.err != io.EOF {
		return s.err
	}
	win := s.buf[s.start:s.end]
	s.start = s.end
	if len(win) > 1 && win[0] == flagByte && !s.discarding {
		s.skipped += int64(len(win) - 1)
		if !s.kept {
			return io.ErrUnexpectedEOF
		}
	}
	return io.EOF
}
