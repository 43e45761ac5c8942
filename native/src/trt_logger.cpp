// trt_logger.hpp's Logger.
#include "trt_logger.hpp"

#include <cstdio>

namespace amf_edge::trt {

void Logger::log(Severity severity, nvinfer1::AsciiChar const* message) noexcept {
    const bool error = severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR;
    std::lock_guard<std::mutex> lock(mutex_);
    if (error) {
        try {
            last_error_ = message;
        } catch (...) {  // out of memory while logging: keep the previous message
        }
    }
    if (severity > threshold_) return;
    const char* level = severity == Severity::kINTERNAL_ERROR ? "internal error"
                        : error                                ? "error"
                        : severity == Severity::kWARNING       ? "warning"
                                                               : "info";
    std::fprintf(stderr, "[TensorRT] %s: %s\n", level, message);
}

std::string Logger::last_error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_error_;
}

}  // namespace amf_edge::trt
