//! A fixed number of tiny ops, for counting their instructions: the per-op overhead that
//! the W0 workload times, made repeatable by counting instead of timing.
//!
//! ```text
//! cargo build --release -p lamina-examples --bin op_cost
//! valgrind --tool=callgrind target/release/op_cost add 10000
//! valgrind --tool=callgrind target/release/op_cost add 20000
//! ```
//!
//! The difference of the two totals divided by 10,000 is the instructions of one op, free
//! of start-up costs. `add` is a 16-element add (W0 add16); `msb` is W0's
//! mul-sum-backward16 (a tape, `sum(a * b)`, backward). It also prints the time per
//! iteration, which is only indicative (use `bench` for timings).

use std::hint::black_box;
use std::time::Instant;

use lamina::autograd::Tape;
use lamina::prelude::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "add".into());
    let n: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dev = Device::cpu();
    let a = Tensor::rand(1, [16], DType::F32, &dev)?;
    let b = Tensor::rand(2, [16], DType::F32, &dev)?;
    let start = Instant::now();
    match which.as_str() {
        "add" => {
            for _ in 0..n {
                black_box((&a + &b)?);
            }
        }
        "msb" => {
            for _ in 0..n {
                let tape = Tape::new();
                tape.watch(&a);
                let loss = (&a * &b)?.sum_all()?;
                black_box(tape.backward(&loss)?);
            }
        }
        other => {
            eprintln!("op_cost: unknown case `{other}` (expected `add` or `msb`)");
            std::process::exit(2);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
    println!("{which}: {n} iterations, {ns:.1} ns each");
    Ok(())
}
