//! Views allocate nothing: every view op leaves the thread's live-bytes counter unchanged
//! and shares its input's storage; `contiguous` of a non-contiguous view does allocate, and
//! dropping everything returns the counter to where it started.

use lamina_backend_cpu::alloc::thread_live_bytes;
use lamina_tensor::{DType, Result, Tensor};

#[test]
fn view_ops_allocate_nothing() -> Result<()> {
    let d = lamina_backend_cpu::device();
    let start = thread_live_bytes();
    let x = Tensor::rand(1, [4, 6, 8], DType::F32, &d)?;
    let base = thread_live_bytes();
    assert_eq!(
        base - start,
        (4 * 6 * 8 * 4) as isize,
        "the tensor itself: 192 f32"
    );
    let views = vec![
        x.reshape([24, 8])?,
        x.view([-1isize])?,
        x.permute([2, 0, 1])?,
        x.transpose(0, 2)?,
        x.narrow(1, 2, 3)?,
        x.unsqueeze(1)?.squeeze(1)?,
        x.narrow(0, 0, 1)?.expand([5, 6, 8])?,
        x.flatten(1, 2)?,
        x.select(0, 3)?,
        x.contiguous()?,
        x.detach(),
    ];
    assert_eq!(thread_live_bytes(), base, "views allocated");
    for v in &views {
        assert!(v.shares_storage(&x));
    }
    let copy = x.transpose(0, 2)?.contiguous()?;
    // The copy's buffer comes from the small-buffer classes (powers of two): 256 f32.
    assert_eq!(
        thread_live_bytes() - base,
        (256 * 4) as isize,
        "a copy of a transposed view"
    );
    drop((views, copy, x));
    assert_eq!(thread_live_bytes(), start);
    Ok(())
}
