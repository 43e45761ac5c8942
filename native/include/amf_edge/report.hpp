// The bench report (docs/bench-report.schema.json, "amf-edge.bench/1") for one native run: the same file
// `amf-edge bench` writes, with tool.implementation "native", so `amf-edge bench --native` and any reader of
// report.json take it as is. bench/report.py is the Python twin.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "amf_edge/json.hpp"

namespace amf_edge {

inline constexpr const char* REPORT_SCHEMA = "amf-edge.bench/1";
inline constexpr const char* GRAPH_SUFFIX = " +graph";

// One engine measured backend-only: everything its models[] entry says.
struct Measurement {
    std::string name;                // the engine's file name, + GRAPH_SUFFIX for the CUDA-graph variant
    std::filesystem::path path;
    std::string precision;
    Json layout;                     // the contract's layout, or null
    std::int64_t height = 0, width = 0;
    Json backend = Json::object();   // what ran: {"backend": "tensorrt", "tensorrt": ..., ...}
    bool cuda_graph = false;
    double load_s = 0;
    double warmup_s = 0;
    std::int64_t warmup_iterations = 0;
    std::vector<double> wall_ms;     // host clock around each timed inference (staging and waiting included)
    std::vector<double> latency_ms;  // device events, first upload to last download (trtexec's Latency)
    std::vector<double> compute_ms, upload_ms, download_ms;
    std::optional<double> host_rss_mib, host_rss_delta_mib, gpu_mib;
    Json trtexec;                    // {"command", "ran": false} for engines, or null
};

struct RunSettings {
    std::string source;              // where the frames came from (the frames directory)
    std::int64_t frames = 0;
    std::int64_t iters = 0;
    double warmup_s = 0;
    std::string device = "cuda:0";
};

Json backend_only(const Measurement& m);
Json model_entry(const Measurement& m);
Json make_report(const Measurement& m, const RunSettings& settings, const std::string& command,
                 const Json& environment, const std::vector<std::string>& notes);
// Atomically (a temporary file renamed over the target), indented like the Python runner's.
void write_json(const Json& report, const std::filesystem::path& path);
// trtexec's equivalent of the measurement (bench/trtexec.py's command): ready to paste.
std::vector<std::string> trtexec_command(const std::filesystem::path& engine, double warmup_s, std::int64_t iters,
                                         bool cuda_graph, int tensorrt_major);
// One line for the terminal: latency p50/p99, compute p50, throughput.
std::string summary_line(const Json& model);

}  // namespace amf_edge
