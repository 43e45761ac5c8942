// The frames directory `amf-edge bench --dump-frames DIR` writes (bench/native.py): the exact model inputs
// the Python runtime measured on, so both runners time identical frames. Layout:
//   DIR/frames.json   {"format": "amf-edge-frames", "version": 1, "count": N, "height": H, "width": W,
//                      "inputs": {"rgb": {"dtype": "uint8", "shape": [1,H,W,3]},
//                                 "depth": {"dtype": "float32", "shape": [1,H,W]}},
//                      "frames": [{"rgb": "000000-rgb.npy", "depth": "000000-depth.npy"}, ...]}
//   DIR/NNNNNN-rgb.npy, DIR/NNNNNN-depth.npy   (numpy.save)
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "amf_edge/npy.hpp"

namespace amf_edge {

inline constexpr const char* FRAMES_FORMAT = "amf-edge-frames";
inline constexpr int FRAMES_VERSION = 1;

struct TensorDecl {
    std::string dtype;
    std::vector<std::int64_t> shape;
};

struct FrameSet {
    std::filesystem::path directory;
    std::int64_t height = 0;
    std::int64_t width = 0;
    std::map<std::string, TensorDecl> inputs;                // as frames.json declares them
    std::vector<std::map<std::string, NpyArray>> frames;     // input name → array, one map per frame
};

// Reads and checks everything: the manifest, every file, every array against the declared dtype and shape.
FrameSet read_frames(const std::filesystem::path& directory);

}  // namespace amf_edge
