//! The main thread joins rayon's global pool when it creates the CPU device (see
//! `par::adopt_main_thread`), and other threads do not. `harness = false`: this file's `main`
//! is the process's real main thread, which the test harness would not give us.

use lamina_backend_cpu::par;

fn fill_parallel() -> bool {
    let mut v = vec![0u32; 2 << 20];
    par::for_each_chunk_mut(&mut v, 1024, |start, c| {
        for (i, x) in c.iter_mut().enumerate() {
            *x = (start + i) as u32;
        }
    });
    v.iter().enumerate().all(|(i, &x)| x == i as u32)
}

fn main() {
    assert!(!par::in_pool(), "main starts outside any pool");
    let _dev = lamina_backend_cpu::device();
    assert!(
        par::in_pool(),
        "the device adopts the main thread into rayon's pool"
    );
    assert_eq!(par::num_threads(), rayon::current_num_threads());
    assert!(fill_parallel());
    // Another thread stays outside and still gets its parallel work done (rayon's cold path).
    let other = std::thread::spawn(|| {
        let _dev = lamina_backend_cpu::device();
        (par::in_pool(), fill_parallel())
    })
    .join()
    .unwrap();
    assert_eq!(other, (false, true));
    println!(
        "main_thread_pool: ok (main in pool, {} threads)",
        par::num_threads()
    );
}
