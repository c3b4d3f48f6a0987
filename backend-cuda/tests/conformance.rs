//! The backend conformance suite on CUDA device 0 when one is present (feature `cuda`);
//! each test prints "skipped: no CUDA device" and passes otherwise.

fn cuda() -> Option<lamina_tensor::Device> {
    lamina_backend_cuda::device(0).ok()
}

lamina_tensor::conformance_tests!(cuda(), "skipped: no CUDA device");
