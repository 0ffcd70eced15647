package behavior

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// goformation resolves intrinsic functions only partly: Ref yields a
// parameter's default or nil, Fn::GetAtt always nil, and Fn::If needs
// conditions that it evaluates only with an option that also replaces every
// resource carrying a Condition key by a boolean. So cfgate evaluates the
// Conditions section itself and overrides Ref, Fn::GetAtt, Fn::Sub and Fn::If:
// parameters resolve to their values, Fn::If to the chosen branch, and
// references to resources become visible placeholders ("{{Ref:Name}}",
// "{{GetAtt:Name.Attr}}", "${Name}" inside Fn::Sub) so that a signed
// behavior's TrustedKeyGroups stays non-empty and an origin's domain still
// names the resource it points at.

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

type evaluator struct {
	params     map[string]any    // parameter name → value (string, or []any for lists)
	conditions map[string]any    // raw condition expressions
	done       map[string]bool   // evaluated conditions
	busy       map[string]bool   // cycle detection
	types      map[string]string // resource name → type
	region     string            // AWS::Region in conditions (default us-east-1)
}

// PseudoRegion, as a key of the parameters of Resolve, Conditions or
// LoadWithParameters, sets AWS::Region for the conditions (default us-east-1).
const PseudoRegion = "AWS::Region"

// Conditions evaluates every condition of the template under params (see
// Resolve).
func Conditions(data []byte, params map[string]string) (map[string]bool, error) {
	_, ev, err := resolve(data, params)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for name := range ev.conditions {
		v, err := ev.condition(name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// Resolve returns the template (YAML or JSON) as JSON with its intrinsic
// functions resolved as described above: parameters at their defaults or
// params, Fn::If by the evaluated conditions, Fn::Sub substituted, references
// to resources as placeholders. The result holds no intrinsic function, so it
// can be decoded as plain JSON or given to goformation with NoProcess.
func Resolve(data []byte, params map[string]string) ([]byte, error) {
	out, _, err := resolve(data, params)
	return out, err
}

func resolve(data []byte, overrides map[string]string) ([]byte, *evaluator, error) {
	// Short-form tags (!Ref, !If, …) become long form; nothing is resolved yet.
	rawJSON, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	var raw struct {
		Parameters map[string]struct {
			Type    string
			Default any
		}
		Conditions map[string]any
		Resources  map[string]struct{ Type string }
	}
	if err := json.Unmarshal(rawJSON, &raw); err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	ev := &evaluator{
		params:     map[string]any{},
		conditions: raw.Conditions,
		done:       map[string]bool{},
		busy:       map[string]bool{},
		types:      map[string]string{},
	}
	ev.region = "us-east-1"
	if r, ok := overrides[PseudoRegion]; ok {
		ev.region = r
	}
	for name := range overrides {
		if name == PseudoRegion {
			continue
		}
		if _, ok := raw.Parameters[name]; !ok {
			return nil, nil, fmt.Errorf("parameter %q is not declared", name)
		}
	}
	for name, p := range raw.Parameters {
		v, set := p.Default, p.Default != nil
		if o, ok := overrides[name]; ok {
			v, set = o, true
		}
		if !set {
			continue // no value: references stay placeholders
		}
		s := scalarString(v)
		switch {
		case strings.HasPrefix(p.Type, "List<") || p.Type == "CommaDelimitedList":
			var list []any
			for _, item := range strings.Split(s, ",") {
				list = append(list, strings.TrimSpace(item))
			}
			ev.params[name] = list
		case p.Type == "Number":
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("parameter %q: %q is not a number", name, s)
			}
			ev.params[name] = n // typed properties (ints) want a JSON number
		default:
			ev.params[name] = s
		}
	}
	for name, r := range raw.Resources {
		ev.types[name] = r.Type
	}
	// Evaluate every condition up front so that errors surface here.
	for name := range ev.conditions {
		if _, err := ev.condition(name); err != nil {
			return nil, nil, err
		}
	}
	opts := &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
		"Ref":             ev.ref,
		"Fn::GetAtt":      getAtt,
		"Fn::Sub":         ev.sub,
		"Fn::If":          ev.fnIf,
		"Fn::ImportValue": func(string, any, any) any { return "{{ImportValue}}" },
	}}
	out, err := intrinsics.ProcessJSON(rawJSON, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve: %w", err)
	}
	return out, ev, nil
}

// parseTemplate resolves the template and decodes its CloudFront
// distributions with goformation. Only AWS::CloudFront::Distribution
// resources are decoded: goformation rejects properties newer than its
// schema (it does for AWS::Serverless::Function's LoggingConfig), and a
// change elsewhere in the template must not stop the local distribution.
func parseTemplate(data []byte, params map[string]string) (*cloudformation.Template, *evaluator, error) {
	resolved, ev, err := resolve(data, params)
	if err != nil {
		return nil, nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(resolved, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	resources, _ := doc["Resources"].(map[string]any)
	keep := map[string]any{}
	for name, r := range resources {
		switch ev.types[name] {
		case "AWS::CloudFront::Distribution", "AWS::CloudFront::OriginRequestPolicy", "AWS::CloudFront::ResponseHeadersPolicy":
			keep[name] = r
		}
	}
	doc = map[string]any{"Resources": keep}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	tpl, err := goformation.ParseJSONWithOptions(b, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	return tpl, ev, nil
}

func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		return fmt.Sprint(v)
	}
}

func (ev *evaluator) ref(_ string, input, _ any) any {
	name, ok := input.(string)
	if !ok {
		return nil
	}
	if name == "AWS::NoValue" {
		return nil
	}
	if v, ok := ev.params[name]; ok {
		return v
	}
	return "{{Ref:" + name + "}}"
}

func getAtt(_ string, input, _ any) any {
	switch v := input.(type) {
	case string:
		return "{{GetAtt:" + v + "}}"
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			parts = append(parts, scalarString(p))
		}
		return "{{GetAtt:" + strings.Join(parts, ".") + "}}"
	}
	return nil
}

func (ev *evaluator) sub(_ string, input, _ any) any {
	var src string
	vars := map[string]any{}
	switch v := input.(type) {
	case string:
		src = v
	case []any:
		if len(v) != 2 {
			return nil
		}
		src, _ = v[0].(string)
		if m, ok := v[1].(map[string]any); ok {
			vars = m
		}
	default:
		return nil
	}
	return subVar.ReplaceAllStringFunc(src, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}" // ${!Literal}
		}
		if v, ok := vars[name]; ok {
			if s, ok := v.(string); ok {
				return s
			}
		}
		switch v := ev.params[name].(type) {
		case string, float64:
			return scalarString(v)
		}
		return m // a resource or pseudo parameter: keep it visible
	})
}

func (ev *evaluator) fnIf(_ string, input, _ any) any {
	arr, ok := input.([]any)
	if !ok || len(arr) != 3 {
		return nil
	}
	name, ok := arr[0].(string)
	if !ok {
		return nil
	}
	on, err := ev.condition(name)
	if err != nil {
		return nil // reported by parseTemplate, which evaluates all conditions first
	}
	if on {
		return arr[1]
	}
	return arr[2]
}

// condition evaluates a named condition of the template.
func (ev *evaluator) condition(name string) (bool, error) {
	if v, ok := ev.done[name]; ok {
		return v, nil
	}
	expr, ok := ev.conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %q is not declared", name)
	}
	if ev.busy[name] {
		return false, fmt.Errorf("condition %q refers to itself", name)
	}
	ev.busy[name] = true
	defer delete(ev.busy, name)
	v, err := ev.boolExpr(expr)
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", name, err)
	}
	ev.done[name] = v
	return v, nil
}

func (ev *evaluator) boolExpr(expr any) (bool, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		if b, ok := expr.(bool); ok {
			return b, nil
		}
		return false, fmt.Errorf("not a condition function: %v", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			name, ok := arg.(string)
			if !ok {
				return false, errors.New("condition function wants a name")
			}
			return ev.condition(name)
		case "Fn::Equals":
			if len(args) != 2 {
				return false, errors.New("Fn::Equals wants two values")
			}
			a, err := ev.value(args[0])
			if err != nil {
				return false, err
			}
			b, err := ev.value(args[1])
			if err != nil {
				return false, err
			}
			return a == b, nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, errors.New("Fn::Not wants one condition")
			}
			v, err := ev.boolExpr(args[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			if len(args) < 2 {
				return false, fmt.Errorf("%s wants at least two conditions", fn)
			}
			and := fn == "Fn::And"
			for _, a := range args {
				v, err := ev.boolExpr(a)
				if err != nil {
					return false, err
				}
				if v != and {
					return v, nil
				}
			}
			return and, nil
		default:
			return false, fmt.Errorf("unsupported function %s in a condition", fn)
		}
	}
	panic("unreachable")
}

// value resolves an Fn::Equals operand to a string.
func (ev *evaluator) value(v any) (string, error) {
	switch v := v.(type) {
	case string, float64, bool:
		return scalarString(v), nil
	case map[string]any:
		if name, ok := v["Ref"].(string); ok && len(v) == 1 {
			switch p := ev.params[name].(type) {
			case string, float64:
				return scalarString(p), nil
			case []any:
				parts := make([]string, len(p))
				for i, x := range p {
					parts[i] = scalarString(x)
				}
				return strings.Join(parts, ","), nil
			}
			if strings.HasPrefix(name, "AWS::") {
				// Pseudo parameters are not known before deployment; the
				// local distribution stands for us-east-1 (see README)
				// unless the parameters name another (PseudoRegion).
				if name == PseudoRegion {
					return ev.region, nil
				}
				return "{{Ref:" + name + "}}", nil
			}
			return "", fmt.Errorf("parameter %q has no value (declare a Default or pass it)", name)
		}
	}
	return "", fmt.Errorf("unsupported value in a condition: %v", v)
}

// referencedNames returns the resource names a resolved string refers to:
// ${Name} / ${Name.Attr} (Fn::Sub), {{Ref:Name}}, {{GetAtt:Name.Attr}}.
func referencedNames(s string) []string {
	var out []string
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		out = append(out, strings.SplitN(m[1], ".", 2)[0])
	}
	for _, prefix := range []string{"{{Ref:", "{{GetAtt:"} {
		rest := s
		for {
			i := strings.Index(rest, prefix)
			if i < 0 {
				break
			}
			rest = rest[i+len(prefix):]
			j := strings.Index(rest, "}}")
			if j < 0 {
				break
			}
			out = append(out, strings.SplitN(rest[:j], ".", 2)[0])
			rest = rest[j:]
		}
	}
	return out
}
