//! The backend conformance suite of `lamina-tensor` (feature `testing`), run on the CPU
//! device: one `#[test]` per suite function, each op against its naive f64 reference.

lamina_tensor::conformance_tests!(Some(lamina_backend_cpu::device()), "skipped: no device");
