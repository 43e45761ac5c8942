// amf-edge-bench-native: the native baseline of `amf-edge bench`. Runs one engine bundle on the frames
// `amf-edge bench --dump-frames DIR` wrote, the way bench measures backend-only (warm-up by time, one untimed
// inference, then N timed ones cycling through the frames), and writes the same report.json schema, so
// `amf-edge bench --native` can put Python's numbers over these. Any error: one line on stderr, exit 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "amf_edge/cuda.hpp"
#include "amf_edge/engine.hpp"
#include "amf_edge/environment.hpp"
#include "amf_edge/error.hpp"
#include "amf_edge/frames.hpp"
#include "amf_edge/report.hpp"
#include "amf_edge/text.hpp"

namespace {

const char* USAGE =
    "usage: amf-edge-bench-native ENGINE --frames DIR [--iters N] [--warmup-s S] [--cuda-graph] [--report FILE.json]\n"
    "                             [--device N] [--verbose]\n"
    "\n"
    "Times ENGINE (an amf-edge engine bundle: ENGINE and ENGINE.json) on the frames in DIR\n"
    "(`amf-edge bench ENGINE --dump-frames DIR`) and writes the bench report schema.\n"
    "\n"
    "  --frames DIR       frames.json and its .npy files\n"
    "  --iters N          timed inferences (100)\n"
    "  --warmup-s S       seconds of inferences before timing (2)\n"
    "  --cuda-graph       replay the inference as a captured CUDA graph\n"
    "  --report FILE      write the report (JSON, docs/bench-report.schema.json) there\n"
    "  --device N         CUDA device index (0)\n"
    "  --verbose          TensorRT's informational messages too\n";

struct Args {
    std::string engine, frames, report;
    long iters = 100;
    double warmup_s = 2.0;
    bool cuda_graph = false, verbose = false;
    int device = 0;
};

double to_number(const std::string& flag, const std::string& text, bool integer) {
    char* end = nullptr;
    const double value = integer ? double(std::strtol(text.c_str(), &end, 10)) : std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') {
        throw amf_edge::Error(flag + " takes " + (integer ? "a whole number" : "a number") + ", got '" + text + "'");
    }
    return value;
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw amf_edge::Error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--frames") a.frames = value();
        else if (arg == "--report") a.report = value();
        else if (arg == "--iters") a.iters = long(to_number(arg, value(), true));
        else if (arg == "--warmup-s") a.warmup_s = to_number(arg, value(), false);
        else if (arg == "--device") a.device = int(to_number(arg, value(), true));
        else if (arg == "--cuda-graph") a.cuda_graph = true;
        else if (arg == "--verbose") a.verbose = true;
        else if (!arg.empty() && arg[0] == '-') throw amf_edge::Error("unknown option " + arg + " (see --help)");
        else if (a.engine.empty()) a.engine = arg;
        else throw amf_edge::Error("one engine per run, got " + a.engine + " and " + arg);
    }
    if (a.engine.empty() || a.frames.empty()) {
        throw amf_edge::Error("ENGINE and --frames DIR are required (see --help)");
    }
    if (a.iters < 1) throw amf_edge::Error("--iters must be at least 1, got " + std::to_string(a.iters));
    if (!(a.warmup_s >= 0)) throw amf_edge::Error("--warmup-s must be 0 or more seconds");
    return a;
}

// The frames must be what the engine takes: same input names, dtypes and shapes.
void check_frames(const amf_edge::FrameSet& frames, const amf_edge::Engine& engine, const std::string& engine_path) {
    for (const auto& t : engine.inputs()) {
        const auto decl = frames.inputs.find(t.name);
        if (decl == frames.inputs.end() || decl->second.dtype != t.dtype || decl->second.shape != t.shape) {
            const std::string have =
                decl == frames.inputs.end()
                    ? "no " + t.name
                    : t.name + " " + decl->second.dtype + " " + amf_edge::shape_str(decl->second.shape);
            throw amf_edge::Error(frames.directory.string() + " holds " + have + ", but " + engine_path + " takes " +
                                  t.dtype + " " + amf_edge::shape_str(t.shape) + "; dump frames for this engine with " +
                                  "`amf-edge bench " + engine_path + " --dump-frames DIR`");
        }
    }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run(int argc, char** argv) {
    const Args args = parse(argc, argv);
    // the files first, the GPU after: a missing sidecar or frame is the likelier mistake, and says so
    amf_edge::read_bundle(args.engine);
    const amf_edge::FrameSet frames = amf_edge::read_frames(args.frames);

    const auto rss_before = amf_edge::rss_mib();
    const auto load_start = std::chrono::steady_clock::now();
    amf_edge::Engine engine(args.engine, {args.cuda_graph, args.device, args.verbose});
    amf_edge::Measurement m;
    m.load_s = seconds_since(load_start);
    const auto rss_loaded = amf_edge::rss_mib();
    check_frames(frames, engine, args.engine);

    auto infer = [&](std::size_t i) {
        const auto& frame = frames.frames[i % frames.frames.size()];
        for (const auto& t : engine.inputs()) {
            const auto& array = frame.at(t.name);
            engine.set_input(t.name, array.data.data(), array.data.size());
        }
        return engine.infer();
    };

    const auto warmup_start = std::chrono::steady_clock::now();
    std::size_t n = 0;
    do {
        infer(n++);
    } while (seconds_since(warmup_start) < args.warmup_s);
    m.warmup_s = seconds_since(warmup_start);
    m.warmup_iterations = std::int64_t(n);
    m.host_rss_mib = amf_edge::rss_mib();

    infer(0);  // untimed, as every bench turn starts
    for (long i = 0; i < args.iters; ++i) {
        const auto start = std::chrono::steady_clock::now();
        const amf_edge::Timing t = infer(std::size_t(i));
        m.wall_ms.push_back(seconds_since(start) * 1e3);
        m.latency_ms.push_back(t.latency_ms);
        m.compute_ms.push_back(t.compute_ms);
        m.upload_ms.push_back(t.upload_ms);
        m.download_ms.push_back(t.download_ms);
    }

    const auto& bundle = engine.bundle();
    const auto contract = bundle.contract();
    const std::filesystem::path engine_path(args.engine);
    m.name = engine_path.filename().string() + (args.cuda_graph ? amf_edge::GRAPH_SUFFIX : "");
    m.path = engine_path;
    m.precision = contract.precision;
    m.layout = bundle.metadata.contains("layout") ? bundle.metadata["layout"] : amf_edge::Json();
    m.height = frames.height;
    m.width = frames.width;
    m.backend = engine.describe();
    m.cuda_graph = args.cuda_graph;
    if (rss_before && rss_loaded) m.host_rss_delta_mib = amf_edge::round_to(*rss_loaded - *rss_before, 1);
    m.gpu_mib = amf_edge::round_to(double(engine.device_memory_bytes()) / double(1 << 20), 2);
    const int major = amf_edge::version_tuple(engine.tensorrt_version()).front();
    m.trtexec = {{"command", amf_edge::shell_join(amf_edge::trtexec_command(engine_path, args.warmup_s, args.iters,
                                                                            args.cuda_graph, major))},
                 {"ran", false}};

    const amf_edge::Json software = {{"amf-edge", amf_edge::version()},
                                     {"tensorrt", engine.tensorrt_version()},
                                     {"cuda_runtime", amf_edge::cuda_version_string(amf_edge::cuda::runtime_version())
                                                          .value_or("unknown")}};
    const amf_edge::Json environment = amf_edge::environment(amf_edge::cuda::gpu_info(args.device), software);
    amf_edge::RunSettings settings;
    settings.source = frames.directory.string();
    settings.frames = std::int64_t(frames.frames.size());
    settings.iters = args.iters;
    settings.warmup_s = args.warmup_s;
    settings.device = "cuda:" + std::to_string(args.device);
    const std::vector<std::string> notes = {
        "native runner (C++): each inference copies its frame into pinned memory, then uploads, runs and downloads "
        "on one CUDA stream and waits, as the Python TensorRT backend does; the outputs stay in pinned memory",
        "frames are replayed from memory, read once from " + frames.directory.string() +
            " (amf-edge bench --dump-frames)"};
    const std::string command = amf_edge::shell_join(std::vector<std::string>(argv, argv + argc));
    const amf_edge::Json report = amf_edge::make_report(m, settings, command, environment, notes);
    std::printf("%s\n", amf_edge::summary_line(report["models"][0]).c_str());
    if (!args.report.empty()) {
        amf_edge::write_json(report, args.report);
        std::printf("wrote %s\n", args.report.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") return std::fputs(USAGE, stdout) < 0;
        if (arg == "--version") return std::printf("amf-edge-bench-native %s\n", amf_edge::version()) < 0;
    }
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "amf-edge-bench-native: error: %s\n", e.what());
        return 1;
    } catch (...) {
        std::fprintf(stderr, "amf-edge-bench-native: error: unknown failure\n");
        return 1;
    }
}
