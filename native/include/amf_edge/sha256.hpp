// SHA-256 (FIPS 180-4), so the runner can check an engine against the engine_sha256 its sidecar records
// (amf_edge.files.file_sha256 in Python) without pulling in a crypto library on Jetson images.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace amf_edge {

class Sha256 {
public:
    Sha256() noexcept;
    void update(const void* data, std::size_t size) noexcept;
    std::array<std::uint8_t, 32> digest() noexcept;  // finishes; the object is spent afterwards
    std::string hexdigest() noexcept;

private:
    void block(const std::uint8_t* p) noexcept;
    std::array<std::uint32_t, 8> h_;
    std::array<std::uint8_t, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t length_ = 0;  // bytes so far
};

std::string sha256_hex(const void* data, std::size_t size);
// Lowercase hex of a file's SHA-256, read in chunks; Error when it cannot be read.
std::string file_sha256(const std::filesystem::path& path);

}  // namespace amf_edge
