// The report JSON: backend-only numbers from known samples, the keys bench/report.py writes, the file round trip,
// and trtexec's command per TensorRT major version (tests/test_native.py validates a report against the schema).
#include <fstream>

#include "amf_edge/environment.hpp"
#include "amf_edge/report.hpp"
#include "test_util.hpp"

namespace {

amf_edge::Measurement measurement() {
    amf_edge::Measurement m;
    m.name = "m.engine +graph";
    m.path = "/nonexistent/m.engine";
    m.precision = "fp16";
    m.height = 48;
    m.width = 64;
    m.backend = {{"backend", "tensorrt"}, {"precision", "fp16"}};
    m.cuda_graph = true;
    m.load_s = 0.12345;
    m.warmup_s = 2.0004;
    m.warmup_iterations = 2410;
    m.wall_ms = {10.0, 10.0, 20.0};
    m.latency_ms = {4.0, 1.0, 3.0};
    m.compute_ms = {3.0, 0.5, 2.0};
    m.upload_ms = {0.5, 0.25, 0.5};
    m.download_ms = {0.5, 0.25, 0.5};
    m.gpu_mib = 96.0;
    return m;
}

}  // namespace

TEST(Report, BackendOnlyWithDeviceTimers) {
    const auto only = amf_edge::backend_only(measurement());
    EXPECT_EQ(only["timer"], "cuda-events");
    EXPECT_EQ(only["iterations"], 3);
    EXPECT_EQ(only["throughput_fps"], 75.0);  // from the host's clock: what a caller gets back to back
    EXPECT_EQ(only["latency_ms"]["p50"], 3.0);
    EXPECT_EQ(only["compute_ms"]["max"], 3.0);
    EXPECT_EQ(only["samples_ms"], amf_edge::Json({4.0, 1.0, 3.0}));
    EXPECT_EQ(only["host_ms"]["mean"], 13.3333);
}

TEST(Report, BackendOnlyWithoutDeviceTimersIsWallClock) {
    auto m = measurement();
    m.latency_ms.clear();
    m.compute_ms.clear();
    m.upload_ms.clear();
    m.download_ms.clear();
    const auto only = amf_edge::backend_only(m);
    EXPECT_EQ(only["timer"], "wall");
    EXPECT_TRUE(only["compute_ms"].is_null());
    EXPECT_FALSE(only.contains("host_ms"));
    EXPECT_EQ(only["samples_ms"], amf_edge::Json({10.0, 10.0, 20.0}));
}

TEST(Report, ModelEntryAndTopLevel) {
    amf_edge::RunSettings settings{"frames/", 3, 3, 2.0, "cuda:0"};
    const auto env = amf_edge::environment(std::nullopt, {{"tensorrt", "10.3.0.30"}});
    const auto report = amf_edge::make_report(measurement(), settings, "amf-edge-bench-native m.engine", env, {"a note"});
    EXPECT_EQ(report["schema"], "amf-edge.bench/1");
    EXPECT_EQ(report["tool"]["implementation"], "native");
    EXPECT_EQ(report["settings"]["end_to_end"], false);
    EXPECT_TRUE(report["settings"]["policy"].is_null());
    const auto& model = report["models"][0];
    EXPECT_EQ(model["format"], "engine");
    EXPECT_TRUE(model["size_mib"].is_null());  // the file does not exist
    EXPECT_EQ(model["load_s"], 0.123);
    EXPECT_EQ(model["warmup"]["seconds"], 2.0);
    EXPECT_EQ(model["variant"]["cuda_graph"], true);
    EXPECT_TRUE(model["end_to_end"].is_null());
    EXPECT_EQ(model["ratios"]["backend_only_p50"], 1.0);
    EXPECT_EQ(model["ratios"]["backend_only_throughput"], 1.0);
    EXPECT_TRUE(model["ratios"]["end_to_end_p50"].is_null());
    EXPECT_EQ(model["memory"]["gpu_mib"], 96.0);
    EXPECT_EQ(report["created"].get<std::string>().size(), std::string("2026-05-09T07:35:25+00:00").size());
    std::vector<std::string> keys;
    for (const auto& item : report.items()) keys.push_back(item.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"schema", "created", "command", "tool", "environment", "settings", "models",
                                              "peak_host_rss_mib", "notes"}));
    EXPECT_EQ(amf_edge::summary_line(model).rfind("m.engine +graph: latency p50 3.000 ms, p99 3.980 ms (cuda-events)", 0),
              0u)
        << amf_edge::summary_line(model);
}

TEST(Report, WrittenAtomicallyAndReadBack) {
    amf_edge::test::TempDir dir;
    const auto report = amf_edge::make_report(measurement(), {}, "cmd", amf_edge::Json::object(), {});
    const auto path = dir / "sub" / "report.json";
    amf_edge::write_json(report, path);
    EXPECT_FALSE(std::filesystem::exists(dir / "sub" / "report.json.tmp"));
    std::ifstream in(path);
    EXPECT_EQ(amf_edge::Json::parse(in), report);
}

TEST(Report, TrtexecCommandPerMajorVersion) {
    using V = std::vector<std::string>;
    EXPECT_EQ(amf_edge::trtexec_command("m.engine", 2.0, 100, true, 10),
              (V{"trtexec", "--loadEngine=m.engine", "--warmUp=2000", "--iterations=100", "--duration=0", "--avgRuns=1",
                 "--percentile=50,90,99", "--useSpinWait", "--useCudaGraph"}));
    const auto v11 = amf_edge::trtexec_command("m.engine", 0.0125, 5, false, 11);
    EXPECT_EQ(v11[2], "--warmUp=12.5");
    EXPECT_EQ(V(v11.end() - 2, v11.end()), (V{"--includeDataTransfers", "--noCudaGraph"}));
}
