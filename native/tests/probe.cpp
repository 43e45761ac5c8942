// amf-edge-native-probe: runs the native library's readers and writers on files tests/test_native.py makes with
// numpy and amf_edge.bundle, and prints what it read as JSON, so the Python test compares both implementations
// on the same files. A test helper: built with the tests, never installed.
//   sha256 FILE | npy FILE | frames DIR | stats X... | report OUT.json
//   bundle ENGINE [TENSORRT_VERSION GPU_NAME COMPUTE_CAPABILITY [integrated]]   (with a runtime: the load check)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "amf_edge/bundle.hpp"
#include "amf_edge/environment.hpp"
#include "amf_edge/error.hpp"
#include "amf_edge/frames.hpp"
#include "amf_edge/npy.hpp"
#include "amf_edge/report.hpp"
#include "amf_edge/sha256.hpp"
#include "amf_edge/stats.hpp"

namespace {

using amf_edge::Json;

Json bundle_json(const std::vector<std::string>& args) {
    const amf_edge::Bundle b = amf_edge::read_bundle(args.at(0));
    if (args.size() >= 4) {
        amf_edge::check_runtime(b, args[1], {args[2], args[3], args.size() > 4 && args[4] == "integrated"});
    }
    const auto c = b.contract();
    return {{"tensorrt", b.tensorrt},
            {"gpu", {{"name", b.device.name}, {"compute_capability", b.device.compute_capability},
                     {"integrated", b.device.integrated}}},
            {"precision", b.precision},
            {"key", b.key},
            {"engine_sha256", b.engine_sha256},
            {"layers", b.layers ? Json(*b.layers) : Json()},
            {"options", b.options},
            {"rebuild_command", b.rebuild_command()},
            {"contract", {{"height", c.height ? Json(*c.height) : Json()},
                          {"width", c.width ? Json(*c.width) : Json()},
                          {"channel_order", c.channel_order},
                          {"outputs", c.outputs},
                          {"precision", c.precision}}}};
}

// A report as amf-edge-bench-native writes it, from fixed samples and this machine's environment.
Json demo_report() {
    amf_edge::Measurement m;
    m.name = "demo.engine +graph";
    m.path = "demo.engine";
    m.precision = "fp16";
    m.layout = "nhwc-uint8";
    m.height = 48;
    m.width = 64;
    m.backend = {{"backend", "tensorrt"}, {"precision", "fp16"}, {"tensorrt", "10.3.0.30"}, {"cuda_graph", true}};
    m.cuda_graph = true;
    m.load_s = 0.25;
    m.warmup_s = 2.0;
    m.warmup_iterations = 2410;
    m.wall_ms = {0.9, 0.95, 0.91, 0.93};
    m.latency_ms = {0.86, 0.88, 0.86, 0.87};
    m.compute_ms = {0.7, 0.71, 0.69, 0.7};
    m.upload_ms = {0.05, 0.05, 0.05, 0.05};
    m.download_ms = {0.03, 0.03, 0.03, 0.03};
    m.host_rss_mib = amf_edge::rss_mib();
    m.host_rss_delta_mib = 1.5;
    m.gpu_mib = 96.0;
    m.trtexec = {{"command", "trtexec --loadEngine=demo.engine"}, {"ran", false}};
    amf_edge::GpuInfo gpu;
    gpu.name = "NVIDIA Jetson AGX Orin";
    gpu.compute_capability = "8.7";
    gpu.integrated = true;
    gpu.cuda_runtime = "12.6";
    const Json software = {{"amf-edge", amf_edge::version()}, {"tensorrt", "10.3.0.30"}, {"cuda_runtime", "12.6"}};
    amf_edge::RunSettings settings{"frames", 4, 4, 2.0, "cuda:0"};
    return amf_edge::make_report(m, settings, "amf-edge-native-probe report", amf_edge::environment(gpu, software),
                                 {"a demonstration report from fixed samples"});
}

int run(const std::string& command, const std::vector<std::string>& args) {
    Json out;
    if (command == "sha256") {
        std::printf("%s\n", amf_edge::file_sha256(args.at(0)).c_str());
        return 0;
    } else if (command == "npy") {
        const auto a = amf_edge::read_npy(args.at(0));
        out = {{"dtype", a.dtype}, {"shape", a.shape}, {"sha256", amf_edge::sha256_hex(a.data.data(), a.data.size())}};
    } else if (command == "frames") {
        const auto set = amf_edge::read_frames(args.at(0));
        out = {{"count", set.frames.size()}, {"height", set.height}, {"width", set.width}, {"digests", Json::array()}};
        for (const auto& frame : set.frames) {
            Json digests;
            for (const auto& [name, a] : frame) digests[name] = amf_edge::sha256_hex(a.data.data(), a.data.size());
            out["digests"].push_back(digests);
        }
    } else if (command == "bundle") {
        out = bundle_json(args);
    } else if (command == "stats") {
        std::vector<double> samples;
        for (const auto& a : args) samples.push_back(std::strtod(a.c_str(), nullptr));
        const auto fps = amf_edge::throughput(samples);
        out = {{"stats", amf_edge::to_json(amf_edge::summarize(samples))}, {"throughput", fps ? Json(*fps) : Json()}};
    } else if (command == "report") {
        amf_edge::write_json(demo_report(), args.at(0));
        return 0;
    } else {
        std::fprintf(stderr, "usage: amf-edge-native-probe sha256|npy|frames|bundle|stats|report ARGS...\n");
        return 2;
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return run("", {});
    try {
        return run(argv[1], std::vector<std::string>(argv + 2, argv + argc));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
