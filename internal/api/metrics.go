package api

import "encoding/json"

// Metric names of the Embedded Metric Format lines.
const (
	metricAccess = "AccessDecision"
	metricLogin  = "LoginDecision"
)

// emfLine is one CloudWatch Embedded Metric Format record: the metric named
// in _aws is a Count of 1 with the dimension Decision; Reason, Course and
// User are searchable properties (not dimensions, to keep cardinality low).
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
type emfLine struct {
	AWS      emfMeta `json:"_aws"`
	Decision string  `json:"Decision"`
	Reason   string  `json:"Reason"`
	Course   string  `json:"Course,omitempty"`
	User     string  `json:"User,omitempty"`
	Status   int     `json:"Status"`
	// The metric value, under the metric's name (one of the two is set).
	AccessDecision int `json:"AccessDecision,omitempty"`
	LoginDecision  int `json:"LoginDecision,omitempty"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// emit writes the decision of one request on a metered route: "granted"
// (access) or "success" (login) when err is nil, "denied" or "failure"
// with err's reason otherwise.
func (h *Handler) emit(metric string, req *request, err error) {
	decision, reason, status := "granted", "granted", 200
	if metric == metricLogin {
		decision, reason = "success", "success"
	}
	if err != nil {
		status, _, reason = classify(err)
		decision = "denied"
		if metric == metricLogin {
			decision = "failure"
		}
	}
	line := emfLine{
		AWS: emfMeta{
			Timestamp: h.now().UnixMilli(),
			CloudWatchMetrics: []emfDirective{{
				Namespace:  "cfgate",
				Dimensions: [][]string{{"Decision"}},
				Metrics:    []emfMetric{{Name: metric, Unit: "Count"}},
			}},
		},
		Decision: decision,
		Reason:   reason,
		Course:   req.courseID,
		User:     req.user,
		Status:   status,
	}
	if metric == metricLogin {
		line.LoginDecision = 1
	} else {
		line.AccessDecision = 1
	}
	b, merr := json.Marshal(line)
	if merr != nil {
		h.log.Error("encode metric", "error", merr.Error())
		return
	}
	b = append(b, '\n')
	h.metricsMu.Lock()
	defer h.metricsMu.Unlock()
	if _, werr := h.metrics.Write(b); werr != nil {
		h.log.Error("write metric", "error", werr.Error())
	}
}
