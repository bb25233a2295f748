// Metric families and their rendering in the Prometheus text exposition
// format, version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// A family is a name, a help text, a type, and a collector: a function that,
// at scrape time, writes the family's current samples into a FamilySink. The
// collector reads whatever already holds the numbers (a component's stats(),
// an atomic, a metrics::Histogram), so a scrape costs the node work and an
// idle scraper costs nothing.
#ifndef WATCHFLOOR_METRICS_REGISTRY_H_
#define WATCHFLOOR_METRICS_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "metrics/metrics.h"

namespace watchfloor::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// Label name -> value, in the order they are rendered.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Where a collector writes the samples of its family. Valid only during the
// collector's call.
class FamilySink {
 public:
  // One sample of a counter or gauge family. Counters must not go down
  // between scrapes (Prometheus reads a drop as a restart).
  void Add(const Labels& labels, double value);
  // One histogram of a histogram family: its cumulative `le` buckets
  // (+Inf included), `_sum` and `_count`. `labels` must not contain "le".
  void AddHistogram(const Labels& labels, const Histogram::Snapshot& histogram);

 private:
  friend class Registry;
  FamilySink(const std::string& name, Type type, std::string* out)
      : name_(name), type_(type), out_(out) {}
  void Sample(absl::string_view suffix, const Labels& labels, const std::string* le,
              double value);

  const std::string& name_;
  const Type type_;
  std::string* const out_;
};

using Collector = std::function<void(FamilySink& sink)>;

class Registry {
 public:
  // Adds a family. `name` must be a valid metric name
  // ([a-zA-Z_:][a-zA-Z0-9_:]*); counters' names end in "_total" by
  // convention. INVALID_ARGUMENT for a bad name, ALREADY_EXISTS for a name
  // added before. `collect` runs on the scraping thread, one scrape at a
  // time; it must be thread-safe against the node's other threads, must
  // not call back into the registry, and must outlive the registry.
  // Thread-safe.
  absl::Status Add(std::string name, std::string help, Type type, Collector collect);

  // Every family, in the order added: "# HELP", "# TYPE", then the samples
  // its collector gave (none is fine). Help text is escaped (\\, \n), label
  // values too (\\, \", \n). Thread-safe; scrapes are serialized.
  std::string Render() const;

 private:
  struct Family {
    std::string name;
    std::string help;
    Type type;
    Collector collect;
  };
  mutable absl::Mutex mu_;
  std::vector<Family> families_ ABSL_GUARDED_BY(mu_);
};

// True iff `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(absl::string_view name);
// True iff `name` matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__".
bool IsValidLabelName(absl::string_view name);
// A label value as it appears between the quotes: \ -> \\, " -> \", newline -> \n.
std::string EscapeLabelValue(absl::string_view value);
// A sample value: integers exactly ("42"), others so they read back the same,
// "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

}  // namespace watchfloor::metrics

#endif  // WATCHFLOOR_METRICS_REGISTRY_H_
