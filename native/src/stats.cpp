// bench/stats.py in C++; numpy's summation order is not reproduced, the rounding to 4 decimals hides it.
#include "amf_edge/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "amf_edge/error.hpp"
#include "amf_edge/text.hpp"

namespace amf_edge {

double percentile(const std::vector<double>& sorted, double q) {
    // numpy's "linear" method: virtual index (n - 1) * q/100, then its _lerp, which computes from the upper
    // neighbour for t >= 0.5 (the same result up to rounding, but numpy's rounding).
    const double index = double(sorted.size() - 1) * (q / 100.0);
    const double lower = std::floor(index);
    const std::size_t i = std::size_t(lower);
    const std::size_t j = std::min(i + 1, sorted.size() - 1);
    const double t = index - lower, a = sorted[i], b = sorted[j];
    const double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

std::optional<Stats> summarize(const std::vector<double>& samples) {
    if (samples.empty()) return std::nullopt;
    const auto bad = std::count_if(samples.begin(), samples.end(), [](double x) { return !std::isfinite(x); });
    if (bad) {
        throw Error(std::to_string(bad) + " of " + std::to_string(samples.size()) + " samples are not finite");
    }
    const double n = double(samples.size());
    const double mean = std::accumulate(samples.begin(), samples.end(), 0.0) / n;
    double squares = 0, steps = 0;
    for (std::size_t k = 0; k < samples.size(); ++k) {
        squares += (samples[k] - mean) * (samples[k] - mean);
        if (k > 0) steps += std::fabs(samples[k] - samples[k - 1]);
    }
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    auto r = [](double x) { return round_to(x, STATS_DIGITS); };
    Stats s;
    s.n = std::int64_t(samples.size());
    s.mean = r(mean);
    s.std = r(std::sqrt(squares / n));
    s.jitter = samples.size() > 1 ? r(steps / (n - 1)) : 0.0;
    s.min = r(sorted.front());
    s.p50 = r(percentile(sorted, 50));
    s.p90 = r(percentile(sorted, 90));
    s.p99 = r(percentile(sorted, 99));
    s.max = r(sorted.back());
    return s;
}

std::optional<double> throughput(const std::vector<double>& latencies_ms) {
    const double total = std::accumulate(latencies_ms.begin(), latencies_ms.end(), 0.0);
    if (latencies_ms.empty() || !(total > 0)) return std::nullopt;
    return round_to(double(latencies_ms.size()) * 1e3 / total, 3);
}

std::optional<double> ratio(std::optional<double> value, std::optional<double> reference) {
    if (!value || !reference || *reference == 0) return std::nullopt;
    return round_to(*value / *reference, 4);
}

Json to_json(const std::optional<Stats>& s) {
    if (!s) return nullptr;
    return {{"n", s->n},     {"mean", s->mean}, {"std", s->std}, {"jitter", s->jitter}, {"min", s->min},
            {"p50", s->p50}, {"p90", s->p90},   {"p99", s->p99}, {"max", s->max}};
}

}  // namespace amf_edge
