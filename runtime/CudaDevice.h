//===- CudaDevice.h - One GPU and its primary context -----------*- C++ -*-===//
//
// The runtime uses the device's primary context, as the CUDA runtime API
// does, so that a llama-run session can share the GPU with PyTorch or any
// other library in the same process.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDADEVICE_H
#define LLAMAC_RUNTIME_CUDADEVICE_H

#include "runtime/CudaArch.h"
#include "runtime/CudaDriver.h"

#include <memory>
#include <string>

namespace llamac::runtime {

class CudaDevice {
public:
  /// Loads the driver and retains device `ordinal`'s primary context,
  /// making it current. Errors: CudaDriver::load's, "no GPU: the CUDA driver
  /// reports 0 devices", "no GPU: device 1 requested, the CUDA driver
  /// reports 1 device".
  static StatusOr<std::unique_ptr<CudaDevice>> open(int ordinal = 0);

  ~CudaDevice();
  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;

  const CudaDriver &driver() const { return *library; }
  cu::Context context() const { return primary; }
  SmVersion sm() const { return version; }
  /// Its streaming multiprocessors, which persistent kernels fill.
  int multiprocessorCount() const { return multiprocessors; }
  /// The most shared memory a kernel may opt in to per block.
  int maxSharedPerBlockOptIn() const { return sharedOptIn; }
  /// "NVIDIA H100 80GB HBM3".
  const std::string &name() const { return deviceName; }
  /// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, driver 13.0)".
  std::string describe() const;
  /// Makes the context current on the calling thread.
  Status makeCurrent() const;

private:
  CudaDevice() = default;

  std::shared_ptr<CudaDriver> library;
  cu::Device device = 0;
  cu::Context primary = nullptr;
  SmVersion version;
  int multiprocessors = 0;
  int sharedOptIn = 0;
  std::string deviceName;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDADEVICE_H
