// Assembling report.json exactly as bench/report.py does for one model measured backend-only: the
// same keys in the same order, the same statistics, null where Python writes None.
#include "amf_edge/report.hpp"

#include <cstdio>
#include <fstream>
#include <system_error>

#include "amf_edge/error.hpp"
#include "amf_edge/environment.hpp"
#include "amf_edge/stats.hpp"
#include "amf_edge/text.hpp"

namespace amf_edge {
namespace {

Json opt(const std::optional<double>& v) { return v ? Json(*v) : Json(); }

// 200.0 → "200", 12.5 → "12.5" (bench/trtexec.py's _decimal)
std::string decimal(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.3f", value);
    std::string s = buffer;
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

}  // namespace

Json backend_only(const Measurement& m) {
    const bool device = !m.latency_ms.empty();
    const auto& samples = device ? m.latency_ms : m.wall_ms;
    Json rounded = Json::array();
    for (const double v : samples) rounded.push_back(round_to(v, STATS_DIGITS));
    Json entry = {{"timer", device ? "cuda-events" : "wall"},
                  {"iterations", m.wall_ms.size()},
                  {"throughput_fps", opt(throughput(m.wall_ms))},  // what a caller running back to back gets
                  {"latency_ms", to_json(summarize(samples))},
                  {"compute_ms", to_json(summarize(m.compute_ms))},
                  {"upload_ms", to_json(summarize(m.upload_ms))},
                  {"download_ms", to_json(summarize(m.download_ms))},
                  {"samples_ms", rounded}};
    if (device) entry["host_ms"] = to_json(summarize(m.wall_ms));
    return entry;
}

Json model_entry(const Measurement& m) {
    std::error_code error;
    const auto bytes = std::filesystem::file_size(m.path, error);
    const Json only = backend_only(m);
    // The first (here: only) model is the reference of the ratios; end-to-end numbers do not exist natively.
    const Json& latency = only.at("latency_ms");
    const Json& throughput_fps = only.at("throughput_fps");
    const auto p50 = latency.is_null() ? std::nullopt : std::optional<double>(latency.at("p50").get<double>());
    const auto fps = throughput_fps.is_null() ? std::nullopt : std::optional<double>(throughput_fps.get<double>());
    return {{"name", m.name},
            {"path", m.path.string()},
            {"format", "engine"},
            {"size_mib", error ? Json() : Json(round_to(double(bytes) / double(1 << 20), 2))},
            {"precision", m.precision},
            {"layout", m.layout},
            {"input", {{"height", m.height}, {"width", m.width}}},
            {"backend", m.backend},
            {"variant", {{"cuda_graph", m.cuda_graph}}},
            {"load_s", round_to(m.load_s, 3)},
            {"warmup", {{"seconds", round_to(m.warmup_s, 3)}, {"iterations", m.warmup_iterations}}},
            {"backend_only", only},
            {"end_to_end", nullptr},
            {"memory",
             {{"host_rss_mib", opt(m.host_rss_mib)},
              {"host_rss_delta_mib", opt(m.host_rss_delta_mib)},
              {"gpu_mib", opt(m.gpu_mib)}}},
            {"ratios",
             {{"backend_only_p50", opt(ratio(p50, p50))},
              {"backend_only_throughput", opt(ratio(fps, fps))},
              {"end_to_end_p50", nullptr},
              {"end_to_end_throughput", nullptr}}},
            {"trtexec", m.trtexec}};
}

Json make_report(const Measurement& m, const RunSettings& s, const std::string& command, const Json& environment,
                 const std::vector<std::string>& notes) {
    return {{"schema", REPORT_SCHEMA},
            {"created", utc_now_iso()},
            {"command", command},
            {"tool", {{"name", "amf-edge"}, {"version", version()}, {"implementation", "native"}}},
            {"environment", environment},
            {"settings",
             {{"source", s.source},
              {"frames", s.frames},
              {"iters", s.iters},
              {"warmup_s", s.warmup_s},
              {"rounds", 1},
              {"policy", nullptr},
              {"rate_fps", nullptr},
              {"sinks", Json::array()},
              {"device", s.device},
              {"threads", nullptr},
              {"end_to_end", false}}},
            {"models", Json::array({model_entry(m)})},
            {"peak_host_rss_mib", peak_rss_mib()},
            {"notes", notes}};
}

void write_json(const Json& report, const std::filesystem::path& path) {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out(tmp);
        out << report.dump(1) << "\n";
        if (!out) throw Error(tmp.string() + ": cannot write the report");
    }
    std::error_code error;
    std::filesystem::rename(tmp, path, error);
    if (error) throw Error(path.string() + ": cannot write the report (" + error.message() + ")");
}

std::vector<std::string> trtexec_command(const std::filesystem::path& engine, double warmup_s, std::int64_t iters,
                                         bool cuda_graph, int tensorrt_major) {
    std::vector<std::string> argv = {"trtexec", "--loadEngine=" + engine.string(),
                                     "--warmUp=" + decimal(warmup_s * 1e3), "--iterations=" + std::to_string(iters),
                                     "--duration=0", "--avgRuns=1", "--percentile=50,90,99"};
    if (tensorrt_major >= 11) {
        argv.emplace_back("--includeDataTransfers");  // TensorRT 11 leaves copies out by default
        if (!cuda_graph) argv.emplace_back("--noCudaGraph");
    } else {
        argv.emplace_back("--useSpinWait");
        if (cuda_graph) argv.emplace_back("--useCudaGraph");
    }
    return argv;
}

std::string summary_line(const Json& model) {
    const auto& only = model.at("backend_only");
    auto ms = [](const Json& stats, const char* key) {
        char buffer[32];
        if (stats.is_null()) return std::string("–");
        std::snprintf(buffer, sizeof buffer, "%.3f", stats.at(key).get<double>());
        return std::string(buffer);
    };
    char fps[32] = "–";
    if (!only.at("throughput_fps").is_null()) {
        std::snprintf(fps, sizeof fps, "%.1f", only.at("throughput_fps").get<double>());
    }
    return model.at("name").get<std::string>() + ": latency p50 " + ms(only.at("latency_ms"), "p50") + " ms, p99 " +
           ms(only.at("latency_ms"), "p99") + " ms (" + only.at("timer").get<std::string>() + "), compute p50 " +
           ms(only.at("compute_ms"), "p50") + " ms, " + fps + " FPS back to back, " +
           std::to_string(only.at("iterations").get<std::int64_t>()) + " iterations";
}

}  // namespace amf_edge
