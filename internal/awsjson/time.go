package awsjson

import (
	"strconv"
	"time"
)

// Time is a timestamp on the AWS JSON wire: a number of epoch seconds,
// with milliseconds as the fraction.
type Time struct{ time.Time }

// NewTime wraps t (nil when t is zero, so that omitempty drops it).
func NewTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// MarshalJSON encodes the time as epoch seconds.
func (t Time) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

// UnmarshalJSON decodes epoch seconds, fractional or in exponent notation.
func (t *Time) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	t.Time = time.UnixMilli(int64(f * 1000))
	return nil
}
