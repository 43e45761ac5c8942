// The CUDA runtime for the TensorRT runner, as RAII types (runtime/cuda.py is the Python twin): device and
// pinned host memory, a stream, timing events, a captured graph, and what CUDA says about the GPU. Every
// failing call is an amf_edge::Error naming the call and CUDA's error; without a driver or GPU it says that
// this needs an NVIDIA GPU and its driver. Needs the CUDA toolkit (CUDA::cudart), not TensorRT.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "amf_edge/bundle.hpp"
#include "amf_edge/environment.hpp"

namespace amf_edge::cuda {

// Throws Error("CUDA <what> failed: <name> (<description>)[; this needs an NVIDIA GPU and its driver]").
void check(cudaError_t status, const char* what);

// Owns one handle; `Free` releases it (errors ignored: teardown must not throw, often after an error).
template <typename T, void (*Free)(T)>
class Handle {
public:
    Handle() = default;
    explicit Handle(T handle) : handle_(handle) {}
    Handle(Handle&& other) noexcept : handle_(std::exchange(other.handle_, T{})) {}
    Handle& operator=(Handle&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, T{});
        }
        return *this;
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { reset(); }

    T get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != T{}; }
    void reset() noexcept {
        if (handle_ != T{}) Free(std::exchange(handle_, T{}));
    }

private:
    T handle_{};
};

namespace detail {
void free_device(void* p);
void free_host(void* p);
void destroy_stream(cudaStream_t s);
void destroy_event(cudaEvent_t e);
void destroy_graph_exec(cudaGraphExec_t g);
}  // namespace detail

// Device memory of a fixed size.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(std::size_t bytes);
    void* get() const noexcept { return ptr_.get(); }
    std::size_t size() const noexcept { return bytes_; }

private:
    Handle<void*, detail::free_device> ptr_;
    std::size_t bytes_ = 0;
};

// Page-locked host memory: copies from and to it are asynchronous and run at full bus speed.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    explicit PinnedBuffer(std::size_t bytes);
    void* get() const noexcept { return ptr_.get(); }
    std::size_t size() const noexcept { return bytes_; }

private:
    Handle<void*, detail::free_host> ptr_;
    std::size_t bytes_ = 0;
};

// A non-blocking stream: no implicit synchronisation with the legacy default stream other libraries use.
class Stream {
public:
    Stream();
    cudaStream_t get() const noexcept { return stream_.get(); }
    void synchronize() const;
    // Stream capture, thread-local (a camera thread calling CUDA meanwhile does not spoil it).
    void begin_capture() const;
    // Ends the capture and instantiates the graph; the graph template itself is not kept.
    Handle<cudaGraphExec_t, detail::destroy_graph_exec> end_capture() const;

private:
    Handle<cudaStream_t, detail::destroy_stream> stream_;
};

using GraphExec = Handle<cudaGraphExec_t, detail::destroy_graph_exec>;

// An event that can time (a little more costly to record than a plain one).
class Event {
public:
    Event();
    cudaEvent_t get() const noexcept { return event_.get(); }
    void record(const Stream& stream) const;
    void synchronize() const;

private:
    Handle<cudaEvent_t, detail::destroy_event> event_;
};

// GPU milliseconds between two recorded, completed events.
float elapsed_ms(const Event& start, const Event& end);

void set_device(int index);
// The GPU as bundles name it (cudaGetDeviceProperties: name, compute capability, integrated).
Device device(int index = 0);
// Everything the report's environment.gpu says, CUDA's view.
GpuInfo gpu_info(int index = 0);
std::pair<std::size_t, std::size_t> memory_info();  // (free, total) bytes of the current device
int runtime_version();                              // cudaRuntimeGetVersion: 12060 for 12.6

}  // namespace amf_edge::cuda
