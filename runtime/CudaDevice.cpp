//===- CudaDevice.cpp - One GPU and its primary context -------------------===//

#include "runtime/CudaDevice.h"

using namespace llamac::runtime;

StatusOr<std::unique_ptr<CudaDevice>> CudaDevice::open(int ordinal) {
  StatusOr<std::shared_ptr<CudaDriver>> loaded = CudaDriver::load();
  if (!loaded.ok())
    return loaded.status();
  const CudaDriver &driver = **loaded;
  int count = 0;
  LLAMAC_RETURN_IF_ERROR(
      driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (count == 0)
    return Status::error("no GPU: the CUDA driver reports 0 devices");
  if (ordinal < 0 || ordinal >= count)
    return Status::error("no GPU: device " + std::to_string(ordinal) +
                         " requested, the CUDA driver reports " +
                         std::to_string(count) +
                         (count == 1 ? " device" : " devices"));

  std::unique_ptr<CudaDevice> device(new CudaDevice());
  device->library = std::move(loaded).value();
  LLAMAC_RETURN_IF_ERROR(driver.check(
      driver.cuDeviceGet(&device->device, ordinal), "cuDeviceGet"));
  LLAMAC_RETURN_IF_ERROR(driver.check(
      driver.cuDeviceGetAttribute(&device->version.major,
                                  cu::kAttributeComputeCapabilityMajor,
                                  device->device),
      "cuDeviceGetAttribute(compute capability)"));
  LLAMAC_RETURN_IF_ERROR(driver.check(
      driver.cuDeviceGetAttribute(&device->version.minor,
                                  cu::kAttributeComputeCapabilityMinor,
                                  device->device),
      "cuDeviceGetAttribute(compute capability)"));
  LLAMAC_RETURN_IF_ERROR(driver.check(
      driver.cuDeviceGetAttribute(&device->multiprocessors,
                                  cu::kAttributeMultiprocessorCount,
                                  device->device),
      "cuDeviceGetAttribute(multiprocessors)"));
  LLAMAC_RETURN_IF_ERROR(driver.check(
      driver.cuDeviceGetAttribute(&device->sharedOptIn,
                                  cu::kAttributeMaxSharedPerBlockOptin,
                                  device->device),
      "cuDeviceGetAttribute(shared memory opt-in)"));
  char name[256] = {0};
  LLAMAC_RETURN_IF_ERROR(driver.check(
      driver.cuDeviceGetName(name, int(sizeof(name)) - 1, device->device),
      "cuDeviceGetName"));
  device->deviceName = name;
  cu::Context context = nullptr;
  LLAMAC_RETURN_IF_ERROR(
      driver.check(driver.cuDevicePrimaryCtxRetain(&context, device->device),
                   "cuDevicePrimaryCtxRetain"));
  device->primary = context;
  LLAMAC_RETURN_IF_ERROR(device->makeCurrent());
  return device;
}

CudaDevice::~CudaDevice() {
  if (primary)
    (void)library->cuDevicePrimaryCtxRelease(device);
}

Status CudaDevice::makeCurrent() const {
  return library->check(library->cuCtxSetCurrent(primary), "cuCtxSetCurrent");
}

std::string CudaDevice::describe() const {
  int v = library->version();
  return deviceName + " (" + version.smName() + ", " +
         std::to_string(multiprocessors) + " SMs, driver " +
         std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) + ")";
}
