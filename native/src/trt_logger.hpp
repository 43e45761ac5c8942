// The nvinfer1::ILogger every TensorRT runtime needs: prints warnings and errors to stderr and keeps the last
// error, so an Error thrown after a failed TensorRT call says why instead of pointing at a log. Private to
// the TensorRT runner.
#pragma once

#include <NvInferRuntime.h>

#include <mutex>
#include <string>

namespace amf_edge::trt {

class Logger : public nvinfer1::ILogger {
public:
    explicit Logger(Severity threshold = Severity::kWARNING) : threshold_(threshold) {}
    void log(Severity severity, nvinfer1::AsciiChar const* message) noexcept override;
    std::string last_error() const;  // "" when none

private:
    Severity threshold_;
    mutable std::mutex mutex_;  // TensorRT may log from several threads
    std::string last_error_;
};

}  // namespace amf_edge::trt
