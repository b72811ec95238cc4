package tool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Schema is the JSON Schema subset that input schemas may use:
//
//	type (a name or a list of names), properties, required,
//	additionalProperties (boolean or schema), items, enum, const,
//	minLength, maxLength, pattern (RE2), minimum, maximum,
//	minItems, maxItems,
//	and the annotations $schema, title, description, default, examples, format.
//
// Any other keyword is refused when the tool is registered, so a schema
// never checks less than it says.
type schema struct {
	types    []string
	props    map[string]*schema
	required []string
	addlBool *bool
	addl     *schema
	items    *schema
	enum     []any
	constVal *any
	minLen   *int
	maxLen   *int
	pattern  *regexp.Regexp
	min, max *float64
	minItems *int
	maxItems *int
}

var annotations = map[string]bool{
	"$schema": true, "title": true, "description": true, "default": true, "examples": true, "format": true,
}

var errSchema = errors.New("tool: unsupported input schema")

// compileSchema parses raw into a schema.
func compileSchema(raw json.RawMessage) (*schema, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", errSchema)
	}
	s := &schema{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.set(k, m[k]); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errSchema, k, err)
		}
	}
	return s, nil
}

func (s *schema) set(k string, v json.RawMessage) error {
	switch k {
	case "type":
		return decodeTypes(v, &s.types)
	case "properties":
		return s.setProps(v)
	case "required":
		return json.Unmarshal(v, &s.required)
	case "additionalProperties":
		return s.setAddl(v)
	case "items":
		sub, err := compileSchema(v)
		s.items = sub
		return err
	case "enum":
		return json.Unmarshal(v, &s.enum)
	case "const":
		var c any
		s.constVal = &c
		return json.Unmarshal(v, &c)
	case "minLength", "maxLength", "minItems", "maxItems":
		return s.setCount(k, v)
	case "minimum", "maximum":
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return err
		}
		if k == "minimum" {
			s.min = &f
		} else {
			s.max = &f
		}
		return nil
	case "pattern":
		var p string
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		re, err := regexp.Compile(p)
		s.pattern = re
		return err
	}
	if annotations[k] {
		return nil
	}
	return errors.New("keyword not supported")
}

func decodeTypes(v json.RawMessage, out *[]string) error {
	var one string
	if json.Unmarshal(v, &one) == nil {
		*out = []string{one}
	} else if err := json.Unmarshal(v, out); err != nil {
		return err
	}
	for _, t := range *out {
		switch t {
		case "object", "array", "string", "number", "integer", "boolean", "null":
		default:
			return fmt.Errorf("unknown type %q", t)
		}
	}
	return nil
}

func (s *schema) setProps(v json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		return err
	}
	s.props = make(map[string]*schema, len(m))
	for name, raw := range m {
		sub, err := compileSchema(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.props[name] = sub
	}
	return nil
}

func (s *schema) setAddl(v json.RawMessage) error {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		s.addlBool = &b
		return nil
	}
	sub, err := compileSchema(v)
	s.addl = sub
	return err
}

func (s *schema) setCount(k string, v json.RawMessage) error {
	var n int
	if err := json.Unmarshal(v, &n); err != nil || n < 0 {
		return errors.New("must be a non-negative integer")
	}
	switch k {
	case "minLength":
		s.minLen = &n
	case "maxLength":
		s.maxLen = &n
	case "minItems":
		s.minItems = &n
	case "maxItems":
		s.maxItems = &n
	}
	return nil
}

// ArgError names the argument that failed the input schema.
type ArgError struct {
	Field  string // e.g. "message", "items[2].name"; "" for the whole object
	Reason string
}

func (e *ArgError) Error() string {
	if e.Field == "" {
		return "arguments: " + e.Reason
	}
	return "argument " + strconv.Quote(e.Field) + ": " + e.Reason
}

func argErr(field, format string, a ...any) error {
	return &ArgError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// validate checks v (as decoded by encoding/json into any) at path.
func (s *schema) validate(v any, path string) error {
	if len(s.types) > 0 && !s.typeOK(v) {
		return argErr(path, "must be of type %s", joinTypes(s.types))
	}
	if s.constVal != nil && !jsonEqual(v, *s.constVal) {
		return argErr(path, "must equal the constant value")
	}
	if len(s.enum) > 0 && !s.inEnum(v) {
		return argErr(path, "must be one of the allowed values")
	}
	switch x := v.(type) {
	case string:
		return s.checkString(x, path)
	case float64:
		return s.checkNumber(x, path)
	case []any:
		return s.checkArray(x, path)
	case map[string]any:
		return s.checkObject(x, path)
	}
	return nil
}

func (s *schema) typeOK(v any) bool {
	for _, t := range s.types {
		if typeMatches(t, v) {
			return true
		}
	}
	return false
}

func typeMatches(t string, v any) bool {
	switch x := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case float64:
		return t == "number" || (t == "integer" && x == math.Trunc(x) && math.Abs(x) <= 1<<53)
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	}
	return false
}

func joinTypes(ts []string) string {
	if len(ts) == 1 {
		return ts[0]
	}
	return fmt.Sprint(ts)
}

func (s *schema) inEnum(v any) bool {
	for _, e := range s.enum {
		if jsonEqual(v, e) {
			return true
		}
	}
	return false
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func (s *schema) checkString(x, path string) error {
	n := utf8.RuneCountInString(x)
	if s.minLen != nil && n < *s.minLen {
		return argErr(path, "must be at least %d characters", *s.minLen)
	}
	if s.maxLen != nil && n > *s.maxLen {
		return argErr(path, "must be at most %d characters", *s.maxLen)
	}
	if s.pattern != nil && !s.pattern.MatchString(x) {
		return argErr(path, "does not match the required pattern")
	}
	return nil
}

func (s *schema) checkNumber(x float64, path string) error {
	if s.min != nil && x < *s.min {
		return argErr(path, "must be at least %g", *s.min)
	}
	if s.max != nil && x > *s.max {
		return argErr(path, "must be at most %g", *s.max)
	}
	return nil
}

func (s *schema) checkArray(x []any, path string) error {
	if s.minItems != nil && len(x) < *s.minItems {
		return argErr(path, "must have at least %d items", *s.minItems)
	}
	if s.maxItems != nil && len(x) > *s.maxItems {
		return argErr(path, "must have at most %d items", *s.maxItems)
	}
	if s.items == nil {
		return nil
	}
	for i, el := range x {
		if err := s.items.validate(el, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *schema) checkObject(x map[string]any, path string) error {
	for _, r := range s.required {
		if _, ok := x[r]; !ok {
			return argErr(join(path, r), "is required")
		}
	}
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := s.checkMember(x, k, path); err != nil {
			return err
		}
	}
	return nil
}

func (s *schema) checkMember(x map[string]any, k, path string) error {
	if sub, ok := s.props[k]; ok {
		return sub.validate(x[k], join(path, k))
	}
	if s.addl != nil {
		return s.addl.validate(x[k], join(path, k))
	}
	if s.addlBool != nil && !*s.addlBool {
		return argErr(join(path, k), "is not an allowed argument")
	}
	return nil
}

func join(path, k string) string {
	if len(k) > 64 {
		k = k[:64] + "..."
	}
	if path == "" {
		return k
	}
	return path + "." + k
}
