// Latency statistics with the definitions of bench/stats.py (docs/bench-report.md, "Statistics"), so a native
// report's numbers mean exactly what the Python runner's mean:
//   percentiles  linear interpolation between the closest ranks (numpy's default), p50 of {1,2,3,4} = 2.5
//   std          population standard deviation (ddof = 0)
//   jitter       mean of |x[i] - x[i-1]|, 0 for one sample
// Every value is rounded to 4 decimals, as Python's round(x, 4).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "amf_edge/json.hpp"

namespace amf_edge {

struct Stats {
    std::int64_t n = 0;
    double mean = 0, std = 0, jitter = 0, min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

inline constexpr int STATS_DIGITS = 4;

// Empty samples → nullopt (the report's null); a NaN or infinity → Error.
std::optional<Stats> summarize(const std::vector<double>& samples);
// numpy.percentile(samples, q) with the default (linear) method; `sorted` must be sorted ascending, non-empty.
double percentile(const std::vector<double>& sorted, double q);
// Back-to-back frames per second: n * 1000 / sum(latencies), rounded to 3 decimals; nullopt without time.
std::optional<double> throughput(const std::vector<double>& latencies_ms);
// value / reference rounded to 4 decimals; nullopt when either is missing or the reference is 0.
std::optional<double> ratio(std::optional<double> value, std::optional<double> reference);

Json to_json(const std::optional<Stats>& stats);  // the schema's stats object, or null

}  // namespace amf_edge
