// Engine (engine.hpp) on TensorRT 10 and 11: only API both have (checked by compiling against both header
// sets: `make native-trt-check`). TensorRT 10 removed binding indices, so tensors are addressed by name
// (getNbIOTensors, getIOTensorName, getTensorIOMode/Shape/DataType, setTensorAddress, enqueueV3), and its
// objects are released with `delete` (destroy() is gone).
#include "amf_edge/engine.hpp"

#include <NvInferRuntime.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "amf_edge/cuda.hpp"
#include "amf_edge/error.hpp"
#include "amf_edge/npy.hpp"
#include "amf_edge/sha256.hpp"
#include "trt_logger.hpp"

namespace amf_edge {
namespace {

// TensorRT types the runner exchanges with the host (runtime/backends/trt.py's table), as numpy names them.
bool host_type(nvinfer1::DataType type, std::string& name, std::size_t& size) {
    switch (type) {
        case nvinfer1::DataType::kFLOAT: name = "float32", size = 4; return true;
        case nvinfer1::DataType::kHALF: name = "float16", size = 2; return true;
        case nvinfer1::DataType::kINT8: name = "int8", size = 1; return true;
        case nvinfer1::DataType::kINT32: name = "int32", size = 4; return true;
        case nvinfer1::DataType::kBOOL: name = "bool", size = 1; return true;
        case nvinfer1::DataType::kUINT8: name = "uint8", size = 1; return true;
        case nvinfer1::DataType::kINT64: name = "int64", size = 8; return true;
        default: return false;  // FP8, BF16, INT4, ...: never at an amf-edge engine's edges
    }
}

std::string library_version() {
    return std::to_string(getInferLibMajorVersion()) + "." + std::to_string(getInferLibMinorVersion()) + "." +
           std::to_string(getInferLibPatchVersion()) + "." + std::to_string(getInferLibBuildVersion());
}

std::vector<char> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open the engine");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Selects the device before any stream or event exists (they belong to the device current at creation).
Device select_device(int index) {
    cuda::set_device(index);
    return cuda::device(index);
}

struct Tensor {
    TensorInfo info;
    cuda::PinnedBuffer host;
    cuda::DeviceBuffer device;
};

}  // namespace

struct Engine::Impl {
    // Members are built in this order (the device is selected before the stream and events exist) and
    // destroyed in reverse: the graph, then the context before its engine and the engine
    // before its runtime (whose logger outlives them), and only then the memory and stream they used.
    EngineOptions options;
    Bundle bundle;
    Device device;
    std::string version;
    std::size_t device_memory = 0;
    std::vector<TensorInfo> inputs, outputs;
    std::map<std::string, Tensor> tensors;
    cuda::Stream stream;
    cuda::Event start, uploaded, computed, done;
    bool pending = false;
    trt::Logger logger;
    std::unique_ptr<nvinfer1::IRuntime> runtime;
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
    std::unique_ptr<nvinfer1::IExecutionContext> context;
    cuda::GraphExec graph;

    explicit Impl(const EngineOptions& opts)
        : options(opts),
          device(select_device(opts.device)),
          logger(opts.verbose ? nvinfer1::ILogger::Severity::kINFO : nvinfer1::ILogger::Severity::kWARNING) {}

    ~Impl() {
        if (pending) cudaStreamSynchronize(stream.get());  // no freeing under a running inference
    }

    std::string rebuild() const { return "rebuild it: `" + bundle.rebuild_command() + " --force`"; }

    std::string why() const {
        const auto error = logger.last_error();
        return error.empty() ? "TensorRT gave no reason" : "TensorRT: " + error;
    }

    void open(const std::filesystem::path& path);
    void read_io();
    void check_io(const std::filesystem::path& path) const;
    void enqueue();
    void capture();
};

void Engine::Impl::open(const std::filesystem::path& path) {
    const std::size_t free_before = cuda::memory_info().first;
    version = library_version();
    bundle = load_bundle(path, version, device);

    const std::vector<char> plan = read_file(path);
    if (sha256_hex(plan.data(), plan.size()) != bundle.engine_sha256) {
        throw Error(path.string() + " is not the engine its sidecar describes (replaced or damaged after the build); " +
                    rebuild());
    }
    runtime.reset(nvinfer1::createInferRuntime(logger));
    if (!runtime) throw Error("TensorRT " + version + " could not create a runtime (" + why() + ")");
    const auto compatible = bundle.options.find("version_compatible");
    if (compatible != bundle.options.end() && compatible->is_boolean() && compatible->get<bool>()) {
        // A version-compatible plan carries TensorRT's lean runtime (host code), which TensorRT runs only when told
        // to trust the plan; this one is what amf-edge build wrote, as its sha256 just showed.
        runtime->setEngineHostCodeAllowed(true);
    }
    engine.reset(runtime->deserializeCudaEngine(plan.data(), plan.size()));
    if (!engine) {
        throw Error("TensorRT " + version + " could not load " + path.string() + " (" + why() + "); " + rebuild());
    }
    context.reset(engine->createExecutionContext());
    if (!context) {
        throw Error("TensorRT could not create an execution context for " + path.string() + " (" + why() + ")");
    }
    read_io();
    check_io(path);

    for (auto* list : {&inputs, &outputs}) {
        for (const auto& info : *list) {
            Tensor t{info, cuda::PinnedBuffer(info.bytes), cuda::DeviceBuffer(info.bytes)};
            if (!context->setTensorAddress(info.name.c_str(), t.device.get())) {
                throw Error("TensorRT rejected the buffer for '" + info.name + "' (" + why() + ")");
            }
            tensors.emplace(info.name, std::move(t));
        }
    }
    if (options.cuda_graph) capture();
    const std::size_t free_after = cuda::memory_info().first;
    device_memory = free_before > free_after ? free_before - free_after : 0;  // others allocate too: an estimate
}

void Engine::Impl::read_io() {
    for (std::int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        TensorInfo info;
        info.name = engine->getIOTensorName(i);
        std::size_t size = 0;
        const auto type = engine->getTensorDataType(info.name.c_str());
        if (!host_type(type, info.dtype, size)) {
            throw Error("engine tensor '" + info.name + "' has TensorRT type " + std::to_string(int(type)) +
                        ", which amf-edge does not exchange with the host; build the engine from an amf-edge ONNX");
        }
        const nvinfer1::Dims dims = engine->getTensorShape(info.name.c_str());
        std::size_t count = 1;
        for (std::int32_t d = 0; d < dims.nbDims; ++d) {
            info.shape.push_back(dims.d[d]);
            count *= dims.d[d] > 0 ? std::size_t(dims.d[d]) : 0;
        }
        info.bytes = count * size;
        const bool input = engine->getTensorIOMode(info.name.c_str()) == nvinfer1::TensorIOMode::kINPUT;
        (input ? inputs : outputs).push_back(std::move(info));
    }
}

void Engine::Impl::check_io(const std::filesystem::path& path) const {
    const Contract c = bundle.contract();
    std::vector<std::string> problems;
    std::set<std::string> input_names;
    for (const auto& t : inputs) input_names.insert(t.name);
    if (input_names != std::set<std::string>{"depth", "rgb"}) {
        std::string listed;
        for (const auto& n : input_names) listed += (listed.empty() ? "" : ", ") + n;
        problems.push_back("inputs [" + listed + "], expected [rgb, depth]");
    }
    if (c.height && c.width) {
        const std::map<std::string, TensorInfo> expected = {
            {"rgb", {"rgb", "uint8", {1, *c.height, *c.width, 3}, 0}},
            {"depth", {"depth", "float32", {1, *c.height, *c.width}, 0}}};
        for (const auto& t : inputs) {
            const auto want = expected.find(t.name);
            if (want != expected.end() && (t.dtype != want->second.dtype || t.shape != want->second.shape)) {
                problems.push_back(t.name + " is " + t.dtype + " " + shape_str(t.shape) + ", its contract says " +
                                   want->second.dtype + " " + shape_str(want->second.shape));
            }
        }
    }
    std::string missing;
    for (const auto& name : c.outputs) {
        bool found = false;
        for (const auto& t : outputs) found = found || t.name == name;
        if (!found) missing += (missing.empty() ? "" : ", ") + name;
    }
    if (!missing.empty()) problems.push_back("outputs lack " + missing);
    std::string dynamic;
    for (const auto* list : {&inputs, &outputs}) {
        for (const auto& t : *list) {
            for (const auto d : t.shape) {
                if (d < 0) {
                    dynamic += (dynamic.empty() ? "" : ", ") + t.name;
                    break;
                }
            }
        }
    }
    if (!dynamic.empty()) problems.push_back("dynamic shapes in " + dynamic + " (amf-edge exports fixed shapes)");
    if (problems.empty()) return;
    std::string text;
    for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
    throw Error(path.string() + " does not match its sidecar's model contract: " + text + "; " + rebuild());
}

void Engine::Impl::enqueue() {
    if (!context->enqueueV3(stream.get())) throw Error("TensorRT could not enqueue the inference (" + why() + ")");
}

void Engine::Impl::capture() {
    // TensorRT must run once outside capture: the first enqueue may allocate and set things up
    enqueue();
    stream.synchronize();
    stream.begin_capture();
    try {
        enqueue();
    } catch (...) {
        cudaGraph_t broken = nullptr;  // leave capture mode; the enqueue's error is the one to report
        if (cudaStreamEndCapture(stream.get(), &broken) == cudaSuccess && broken) cudaGraphDestroy(broken);
        throw;
    }
    try {
        graph = stream.end_capture();
    } catch (const Error& e) {
        throw Error(std::string("this engine cannot run as a CUDA graph (") + e.what() +
                    "); run it without --cuda-graph");
    }
}

Engine::Engine(const std::filesystem::path& engine_path, const EngineOptions& options)
    : impl_(std::make_unique<Impl>(options)) {
    impl_->open(engine_path);
}

Engine::~Engine() = default;

const Bundle& Engine::bundle() const { return impl_->bundle; }
const Device& Engine::device() const { return impl_->device; }
std::string Engine::tensorrt_version() const { return impl_->version; }
const std::vector<TensorInfo>& Engine::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Engine::outputs() const { return impl_->outputs; }
std::size_t Engine::device_memory_bytes() const { return impl_->device_memory; }

void* Engine::input(const std::string& name) {
    for (const auto& t : impl_->inputs) {
        if (t.name == name) return impl_->tensors.at(name).host.get();
    }
    throw Error("the engine has no input '" + name + "'");
}

const void* Engine::output(const std::string& name) const {
    for (const auto& t : impl_->outputs) {
        if (t.name == name) return impl_->tensors.at(name).host.get();
    }
    throw Error("the engine has no output '" + name + "'");
}

void Engine::set_input(const std::string& name, const void* data, std::size_t bytes) {
    void* staging = input(name);
    const std::size_t expected = impl_->tensors.at(name).info.bytes;
    if (bytes != expected) {
        throw Error("input '" + name + "' takes " + std::to_string(expected) + " bytes, got " + std::to_string(bytes));
    }
    std::memcpy(staging, data, bytes);
}

void Engine::submit() {
    Impl& m = *impl_;
    if (m.pending) throw Error("submit() with an inference not yet collected; call wait() first");
    m.start.record(m.stream);
    for (const auto& info : m.inputs) {
        const Tensor& t = m.tensors.at(info.name);
        cuda::check(cudaMemcpyAsync(t.device.get(), t.host.get(), info.bytes, cudaMemcpyHostToDevice, m.stream.get()),
                    "cudaMemcpyAsync (upload)");
    }
    m.uploaded.record(m.stream);
    if (m.graph) {
        cuda::check(cudaGraphLaunch(m.graph.get(), m.stream.get()), "cudaGraphLaunch");
    } else {
        m.enqueue();
    }
    m.computed.record(m.stream);
    for (const auto& info : m.outputs) {
        const Tensor& t = m.tensors.at(info.name);
        cuda::check(cudaMemcpyAsync(t.host.get(), t.device.get(), info.bytes, cudaMemcpyDeviceToHost, m.stream.get()),
                    "cudaMemcpyAsync (download)");
    }
    m.done.record(m.stream);
    m.pending = true;
}

Timing Engine::wait() {
    Impl& m = *impl_;
    if (!m.pending) throw Error("wait() without a submit() in flight");
    m.done.synchronize();
    m.pending = false;
    return {cuda::elapsed_ms(m.start, m.uploaded), cuda::elapsed_ms(m.uploaded, m.computed),
            cuda::elapsed_ms(m.computed, m.done), cuda::elapsed_ms(m.start, m.done)};
}

Json Engine::describe() const {
    const Impl& m = *impl_;
    const int cudart = cuda::runtime_version();
    return {{"backend", "tensorrt"},
            {"precision", m.bundle.contract().precision},
            {"tensorrt", m.version},
            {"device", m.device.name},
            {"compute_capability", m.device.compute_capability},
            {"cuda", "cudart " + std::to_string(cudart / 1000) + "." + std::to_string(cudart % 1000 / 10)},
            {"cuda_graph", m.options.cuda_graph},
            {"engine", m.bundle.engine_path.string()}};
}

}  // namespace amf_edge
