// The CUDA wrappers: without a GPU (CI), every call is an Error that says a GPU and driver are needed; with one,
// memory, copies, events and a captured graph work.
#include <cstring>

#include "amf_edge/cuda.hpp"
#include "amf_edge/error.hpp"
#include "test_util.hpp"

namespace {

bool have_gpu() {
    int count = 0;
    const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
    cudaGetLastError();
    return ok;
}

}  // namespace

TEST(Cuda, WithoutAGpuErrorsSaySo) {
    if (have_gpu()) GTEST_SKIP() << "this machine has a GPU";
    const auto device = AMF_EDGE_ERROR_MESSAGE(amf_edge::cuda::device(0));
    EXPECT_EQ(device.rfind("CUDA cudaGetDeviceProperties failed: cudaError", 0), 0u) << device;
    EXPECT_NE(device.find("; this needs an NVIDIA GPU and its driver"), std::string::npos) << device;
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::cuda::Stream()).find("cudaStreamCreateWithFlags failed"), std::string::npos);
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::cuda::DeviceBuffer(16)).find("cudaMalloc failed"), std::string::npos);
}

TEST(Cuda, VersionOfTheRuntimeNeedsNoGpu) {
    EXPECT_GE(amf_edge::cuda::runtime_version(), 11000);
}

TEST(Cuda, CopiesEventsAndAGraphOnTheDevice) {
    if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU";
    amf_edge::cuda::set_device(0);
    const auto info = amf_edge::cuda::gpu_info(0);
    EXPECT_FALSE(info.name.empty());
    amf_edge::cuda::Stream stream;
    amf_edge::cuda::PinnedBuffer in(64), out(64);
    amf_edge::cuda::DeviceBuffer device(64);
    std::memset(in.get(), 42, 64);
    std::memset(out.get(), 0, 64);
    amf_edge::cuda::Event start, end;
    start.record(stream);
    amf_edge::cuda::check(cudaMemcpyAsync(device.get(), in.get(), 64, cudaMemcpyHostToDevice, stream.get()), "upload");
    stream.begin_capture();
    amf_edge::cuda::check(cudaMemcpyAsync(out.get(), device.get(), 64, cudaMemcpyDeviceToHost, stream.get()), "download");
    const auto graph = stream.end_capture();
    amf_edge::cuda::check(cudaGraphLaunch(graph.get(), stream.get()), "cudaGraphLaunch");
    end.record(stream);
    end.synchronize();
    EXPECT_EQ(static_cast<unsigned char*>(out.get())[63], 42);
    EXPECT_GE(amf_edge::cuda::elapsed_ms(start, end), 0.0f);
}
