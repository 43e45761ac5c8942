// Helpers for the unit tests: a temporary directory removed afterwards, and writing files from bytes.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace amf_edge::test {

class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "amf-edge-test-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

// The message of the amf_edge::Error `statement` throws (fails the test when it throws none).
#define AMF_EDGE_ERROR_MESSAGE(statement)                                       \
    [&]() -> std::string {                                                      \
        try {                                                                   \
            statement;                                                          \
        } catch (const amf_edge::Error& e) {                                    \
            return e.what();                                                    \
        }                                                                       \
        ADD_FAILURE() << #statement " threw no amf_edge::Error";                \
        return "";                                                              \
    }()

}  // namespace amf_edge::test
