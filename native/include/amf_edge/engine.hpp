// Engine: runs an amf-edge engine bundle with TensorRT (runtime/backends/trt.py is the Python twin).
// Loading reads the sidecar, checks the engine's sha256 and that this TensorRT version and this GPU can run
// it (else an Error with the rebuild command), deserializes it and checks its tensors by name against the
// model contract: inputs rgb uint8 1×H×W×3 and depth float32 1×H×W, the contract's outputs.
// Buffers are allocated once (pinned host and device memory per tensor); one stream runs upload, inference
// and download; four timing events give upload, compute, download and latency (first upload to last
// download, trtexec's Latency) of every inference. With cuda_graph, the inference (enqueueV3) is captured in a
// CUDA graph once, after one warm-up run, and replayed: less CPU per frame.
//
// TensorRT stays out of this header (the implementation is private), so integrators compile against it
// without TensorRT's headers, and one header serves TensorRT 10 and 11.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "amf_edge/bundle.hpp"
#include "amf_edge/json.hpp"

namespace amf_edge {

struct TensorInfo {
    std::string name;
    std::string dtype;                // numpy's names: "uint8", "float32", ...
    std::vector<std::int64_t> shape;  // static: amf-edge exports fixed shapes
    std::size_t bytes = 0;
};

struct Timing {
    double upload_ms = 0, compute_ms = 0, download_ms = 0, latency_ms = 0;
};

struct EngineOptions {
    bool cuda_graph = false;
    int device = 0;        // CUDA device index (after CUDA_VISIBLE_DEVICES)
    bool verbose = false;  // TensorRT's INFO messages too (warnings and errors always go to stderr)
};

class Engine {
public:
    explicit Engine(const std::filesystem::path& engine_path, const EngineOptions& options = {});
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const Bundle& bundle() const;
    const Device& device() const;
    std::string tensorrt_version() const;  // the library's: "10.3.0.30"
    const std::vector<TensorInfo>& inputs() const;
    const std::vector<TensorInfo>& outputs() const;

    // Pinned staging buffers, one per tensor: write inputs here (or use set_input), read outputs after wait().
    void* input(const std::string& name);
    const void* output(const std::string& name) const;
    void set_input(const std::string& name, const void* data, std::size_t bytes);

    void submit();   // enqueue upload, inference and download; returns at once
    Timing wait();   // block until the download is done; the inference's device times
    Timing infer() { submit(); return wait(); }

    std::size_t device_memory_bytes() const;  // what loading took from the GPU (free memory before and after)
    Json describe() const;                    // the report's models[].backend

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace amf_edge
