// Engine bundles: a TensorRT engine and the sidecar JSON `amf-edge build` writes beside it
// (amf_edge/bundle.py is the Python twin and the reference: same keys, same checks, same messages).
// An engine runs only with the TensorRT version and on the GPU it was built for (unless it was built
// version- or hardware-compatible), so loading checks both first and says how to rebuild, instead of
// letting TensorRT fail with a deserialization error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amf_edge/error.hpp"
#include "amf_edge/json.hpp"

namespace amf_edge {

inline constexpr const char* BUNDLE_FORMAT = "amf-edge-engine-bundle";
inline constexpr int BUNDLE_FORMAT_VERSION = 1;

// The GPU an engine is built for or runs on.
struct Device {
    std::string name;
    std::string compute_capability;  // "8.7"
    bool integrated = false;         // Jetson: shares memory with the CPU

    std::string describe() const;    // "NVIDIA Jetson AGX Orin (compute capability 8.7)"
    std::pair<int, int> cc() const;  // (8, 7)
};

// What the model takes and gives, from the sidecar's metadata (amf_edge.contract.ModelContract).
struct Contract {
    std::optional<std::int64_t> height, width;  // none for dynamic exports
    std::string channel_order;                  // "RGB" or "BGR"
    std::vector<std::string> outputs;           // "labels" first, then what was asked for
    std::string precision;                      // "fp32", "fp16", "int8"
};

struct Bundle {
    std::filesystem::path engine_path;
    Json metadata;  // the ONNX's amf-edge metadata (labels, input_contract, ...)
    Json onnx;      // {"path", "sha256", "precision"}
    std::string tensorrt;     // the TensorRT version that built it ("10.3.0")
    Device device;
    std::string precision;
    Json options;   // the build options (version_compatible, hardware_compat, dla_core, ...)
    std::string key;
    std::string engine_sha256;
    std::optional<std::string> layers;
    Json tools;

    std::filesystem::path sidecar_path() const;
    Contract contract() const;
    // The `amf-edge build` command that makes this engine again (Bundle.rebuild_command, shell-quoted).
    std::string rebuild_command() const;
};

std::filesystem::path sidecar_path(const std::filesystem::path& engine_path);

// Reads the sidecar; any problem is an Error (error.hpp) that says how to rebuild.
Bundle read_bundle(const std::filesystem::path& engine_path);
// The sidecar's JSON (already parsed) as a Bundle; `sidecar` names it in messages.
Bundle parse_bundle(const Json& sidecar, const std::filesystem::path& engine_path);

// Whether this TensorRT version and this GPU can run the bundle's engine; an Error with the rebuild command
// when not (amf_edge.bundle.load_bundle).
void check_runtime(const Bundle& bundle, const std::string& tensorrt_version, const Device& device);
Bundle load_bundle(const std::filesystem::path& engine_path, const std::string& tensorrt_version,
                   const Device& device);

// "10.16.1.11" → {10, 16, 1, 11}; numeric components up to the first other one. Error when there are none.
std::vector<int> version_tuple(const std::string& version);
// The same release: equal on the components both name. Python's tensorrt.__version__ may say "10.3.0" where the
// library says 10.3.0.30 (JetPack 6), so the build number counts only when both sides have one.
bool same_release(const std::string& a, const std::string& b);
bool version_ok(const Bundle& bundle, const std::string& runtime_version);
bool device_ok(const Bundle& bundle, const Device& device);

}  // namespace amf_edge
