// cuda.hpp's wrappers over the CUDA runtime API (no kernels: TensorRT runs the network, the runner only moves
// data, records events and replays graphs, so the project needs no nvcc and no CUDA architectures).
#include "amf_edge/cuda.hpp"

#include <string>

#include "amf_edge/error.hpp"
#include "amf_edge/text.hpp"

namespace amf_edge::cuda {

void check(cudaError_t status, const char* what) {
    if (status == cudaSuccess) return;
    const std::string name = cudaGetErrorName(status);
    const bool no_gpu = status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice ||
                        name.find("Driver") != std::string::npos || name.find("NoDevice") != std::string::npos;
    cudaGetLastError();  // clear a sticky-free error so later calls report their own
    throw Error(std::string("CUDA ") + what + " failed: " + name + " (" + cudaGetErrorString(status) + ")" +
                (no_gpu ? "; this needs an NVIDIA GPU and its driver" : ""));
}

namespace detail {
void free_device(void* p) { cudaFree(p); }
void free_host(void* p) { cudaFreeHost(p); }
void destroy_stream(cudaStream_t s) { cudaStreamDestroy(s); }
void destroy_event(cudaEvent_t e) { cudaEventDestroy(e); }
void destroy_graph_exec(cudaGraphExec_t g) { cudaGraphExecDestroy(g); }
}  // namespace detail

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
    ptr_ = decltype(ptr_)(p);
}

PinnedBuffer::PinnedBuffer(std::size_t bytes) : bytes_(bytes) {
    void* p = nullptr;
    check(cudaMallocHost(&p, bytes ? bytes : 1), "cudaMallocHost");
    ptr_ = decltype(ptr_)(p);
}

Stream::Stream() {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    stream_ = decltype(stream_)(s);
}

void Stream::synchronize() const { check(cudaStreamSynchronize(get()), "cudaStreamSynchronize"); }

void Stream::begin_capture() const {
    check(cudaStreamBeginCapture(get(), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

GraphExec Stream::end_capture() const {
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(get(), &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t status = cudaGraphInstantiateWithFlags(&exec, graph, 0);
    cudaGraphDestroy(graph);  // the executable graph is a copy
    check(status, "cudaGraphInstantiateWithFlags");
    return GraphExec(exec);
}

Event::Event() {
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDefault), "cudaEventCreateWithFlags");
    event_ = decltype(event_)(e);
}

void Event::record(const Stream& stream) const { check(cudaEventRecord(get(), stream.get()), "cudaEventRecord"); }

void Event::synchronize() const { check(cudaEventSynchronize(get()), "cudaEventSynchronize"); }

float elapsed_ms(const Event& start, const Event& end) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start.get(), end.get()), "cudaEventElapsedTime");
    return ms;
}

void set_device(int index) { check(cudaSetDevice(index), "cudaSetDevice"); }

Device device(int index) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    return {prop.name, std::to_string(prop.major) + "." + std::to_string(prop.minor), prop.integrated != 0};
}

GpuInfo gpu_info(int index) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    int driver = 0, count = 0;
    cudaDriverGetVersion(&driver);
    cudaGetDeviceCount(&count);
    GpuInfo gpu;
    gpu.name = prop.name;
    gpu.driver = proc_driver_version();
    gpu.cuda_driver = cuda_version_string(driver);
    gpu.cuda_runtime = cuda_version_string(runtime_version());
    gpu.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    gpu.memory_mib = round_to(double(prop.totalGlobalMem) / double(1 << 20), 0);
    gpu.integrated = prop.integrated != 0;
    gpu.count = count;
    return gpu;
}

std::pair<std::size_t, std::size_t> memory_info() {
    std::size_t free = 0, total = 0;
    check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    return {free, total};
}

int runtime_version() {
    int version = 0;
    check(cudaRuntimeGetVersion(&version), "cudaRuntimeGetVersion");
    return version;
}

}  // namespace amf_edge::cuda
