//! A finished tape hands its emptied lists to the next tape on the thread: nothing recorded
//! on one tape may show up on the next, whether it ended in `backward`, an error or a drop.

use lamina_autograd::Tape;
use lamina_tensor::{Result, Tensor};

fn grad_of_sum_sq(x: &Tensor) -> Result<Vec<f64>> {
    let tape = Tape::new();
    assert!(tape.is_empty(), "a new tape starts empty");
    tape.watch(x);
    let y = x.square()?.sum_all()?;
    assert!(!tape.is_empty());
    let g = tape.backward(&y)?;
    g.get(x).expect("x is watched").to_vec::<f64>()
}

#[test]
fn tapes_after_backward_drop_and_error_start_empty() -> Result<()> {
    let dev = lamina_backend_cpu::device();
    let x = Tensor::from_vec(vec![1.0f64, -2.0, 3.0], [3], &dev)?;
    let want = vec![2.0, -4.0, 6.0];

    // After a backward pass.
    assert_eq!(grad_of_sum_sq(&x)?, want);
    assert_eq!(grad_of_sum_sq(&x)?, want);

    // After a tape dropped with entries (and saved tensors) still on it.
    {
        let tape = Tape::new();
        tape.watch(&x);
        let y = x.exp()?.mul(&x)?.sum_all()?;
        assert!(tape.len() >= 3);
        drop(y);
    }
    assert_eq!(grad_of_sum_sq(&x)?, want);

    // After a backward that fails (a loss with more than one element).
    {
        let tape = Tape::new();
        tape.watch(&x);
        let y = x.square()?;
        assert!(tape.backward(&y).is_err());
    }
    assert_eq!(grad_of_sum_sq(&x)?, want);

    // An untracked tensor from an earlier tape is not tracked on the next one.
    let z = {
        let tape = Tape::new();
        tape.watch(&x);
        let z = x.mul(&x)?;
        assert!(tape.is_tracked(&z));
        z
    };
    let tape = Tape::new();
    assert!(!tape.is_tracked(&z) && !tape.is_tracked(&x));
    Ok(())
}
