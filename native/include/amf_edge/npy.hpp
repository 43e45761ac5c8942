// NumPy .npy files: how `amf-edge bench --dump-frames` hands the exact model inputs to the native runner
// (numpy.save writes them; no image library is needed on either side). Reads format versions 1.0, 2.0 and
// 3.0, little-endian, C order, plain numeric dtypes; anything else is an Error that says what the file is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace amf_edge {

struct NpyArray {
    std::string dtype;                 // numpy's name: "uint8", "float32", ...
    std::size_t itemsize = 0;          // bytes per element
    std::vector<std::int64_t> shape;   // () for a scalar
    std::vector<unsigned char> data;   // count() * itemsize bytes, C order, little-endian

    std::size_t count() const;         // elements: the product of shape (1 for a scalar)
    std::string describe() const;      // "uint8 (1, 48, 64, 3)", numpy's way of writing a shape
};

// `source` names the bytes in error messages (the file's path).
NpyArray parse_npy(const unsigned char* bytes, std::size_t size, const std::string& source);
NpyArray read_npy(const std::filesystem::path& path);
// A version 1.0 file as numpy.save writes it (tests, and integrators dumping outputs for Python).
void write_npy(const std::filesystem::path& path, const NpyArray& array);

// "(1, 48, 64, 3)", "(5,)", "()": as Python prints a shape tuple.
std::string shape_str(const std::vector<std::int64_t>& shape);

}  // namespace amf_edge
